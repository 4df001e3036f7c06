"""What the archive tells apps to its left without importing them (DESIGN.md: worklist knows no AI).

instance_stored is sent after the commit of each newly stored (or replaced) instance, with
instance_id, sop_class_uid and study_id; receivers must be quick (C-STORE acknowledgements wait
for them) and hand any real work to a task."""

import django.dispatch

instance_stored = django.dispatch.Signal()
