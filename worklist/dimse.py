"""The Django side of the C-STORE listener: which senders may store (RemoteAE decides the site),
each object through the one ingest function, and the audit trail per association.

pynetdicom runs every association in a thread of its own, so each association opens its own
database connection and closes it when it ends. The pixel checks of what it stored are enqueued
when it ends, so that no acknowledgement waits for a task (with the immediate backend, a decode)."""

import logging
from collections import Counter
from dataclasses import dataclass, field

from django.db import close_old_connections, connections

from accounts import audit
from accounts.models import AuditAction
from dicomkit.store_scp import Peer, StoreServer
from worklist.ingest import defer_counters, defer_pixel_checks, enqueue_pixel_checks, ingest, refresh_counters
from worklist.models import RemoteAE, Study

logger = logging.getLogger(__name__)

SOURCE = "cstore"
# The series and study instance counts are recounted after this many stored objects and when
# the association ends, not per object.
COUNTERS_EVERY = 100


@dataclass
class StudyTally:
    """What one association sent for one study; becomes its audit row at release."""

    stored: int = 0
    already_present: int = 0
    refused: int = 0
    reasons: Counter = field(default_factory=Counter)


class ArchiveStoreService:
    """The `StoreService` of dicomkit.store_scp, backed by the archive."""

    def allow(self, peer: Peer) -> bool:
        close_old_connections()
        remote = RemoteAE.objects.select_related("site").filter(ae_title=peer.calling_ae_title, active=True).first()
        if remote is None:
            return False
        peer.state["site"] = remote.site
        peer.state["studies"] = {}
        peer.state["pixel_checks"] = []
        peer.state["counted_series"] = {}
        peer.state["uncounted"] = 0
        # The association's own thread runs every C-STORE handler after this one.
        defer_pixel_checks(peer.state["pixel_checks"])
        defer_counters(peer.state["counted_series"])
        return True

    def store(self, peer: Peer, data: bytes) -> int:
        try:
            result = ingest(
                data,
                site=peer.state["site"],
                source=SOURCE,
                source_detail=peer.calling_ae_title,
            )
        except Exception:
            # A broken connection (database restarted) is replaced for the next object.
            close_old_connections()
            raise
        tally = peer.state["studies"].setdefault(result.study_instance_uid, StudyTally())
        if result.outcome == "stored":
            tally.stored += 1
            peer.state["uncounted"] += 1
            if peer.state["uncounted"] >= COUNTERS_EVERY:
                self._refresh_counters(peer)
        elif result.outcome == "already_present":
            tally.already_present += 1
        else:
            tally.refused += 1
            tally.reasons[result.code] += 1
        return result.dimse_status

    def association_refused(self, peer: Peer, reason: str) -> None:
        try:
            close_old_connections()
            audit.record(
                action=AuditAction.ASSOCIATION_REFUSED,
                source=peer.calling_ae_title,
                success=False,
                detail={
                    "calling_ae_title": peer.calling_ae_title,
                    "called_ae_title": peer.called_ae_title,
                    "address": peer.address,
                    "reason": reason,
                },
            )
        finally:
            connections.close_all()

    def association_ended(self, peer: Peer) -> None:
        try:
            close_old_connections()
            self._refresh_counters(peer)
            self._audit(peer)
            pixel_checks = peer.state.get("pixel_checks", [])
            try:
                enqueue_pixel_checks(pixel_checks)
            except Exception:
                logger.exception("enqueuing %d pixel checks failed", len(pixel_checks))
        finally:
            defer_pixel_checks(None)
            defer_counters(None)
            connections.close_all()

    def _refresh_counters(self, peer: Peer) -> None:
        counted_series: dict[int, int] = peer.state.get("counted_series", {})
        try:
            refresh_counters(counted_series)
        except Exception:
            # The counts are a convenience of the worklist; the next refresh corrects them.
            logger.exception("refreshing the instance counts of %d series failed", len(counted_series))
            return
        counted_series.clear()
        peer.state["uncounted"] = 0

    def _audit(self, peer: Peer) -> None:
        """One row per study the association sent."""
        studies: dict[str, StudyTally] = peer.state.get("studies", {})
        patients = dict(
            Study.objects.filter(study_instance_uid__in=[uid for uid in studies if uid]).values_list(
                "study_instance_uid", "patient_id"
            )
        )
        for study_uid, tally in studies.items():
            audit.record(
                action=AuditAction.INSTANCES_IMPORTED
                if tally.stored + tally.already_present
                else AuditAction.INSTANCE_REFUSED,
                source=peer.calling_ae_title,
                study_uid=study_uid,
                patient_ref=patients.get(study_uid),
                success=tally.refused == 0,
                detail={
                    "transport": "C-STORE",
                    "calling_ae_title": peer.calling_ae_title,
                    "address": peer.address,
                    "stored": tally.stored,
                    "already_present": tally.already_present,
                    "refused": tally.refused,
                    "reasons": dict(tally.reasons),
                },
            )
            logger.info(
                "C-STORE from %s: study %s stored %d, already present %d, refused %d",
                peer.calling_ae_title,
                study_uid or "(unreadable)",
                tally.stored,
                tally.already_present,
                tally.refused,
            )


def listener(*, ae_title: str, bind: str, port: int, share_port: bool = False) -> StoreServer:
    """A C-STORE listener storing into the archive (call `start()` on it)."""
    return StoreServer(
        ArchiveStoreService(),
        ae_title=ae_title,
        bind=bind,
        port=port,
        share_port=share_port,
    )
