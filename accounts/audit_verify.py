"""Walks the audit chain and names the first row that does not hold: its content no longer gives
its hash (edited), or it does not follow the row before it (a row inserted, removed or re-hashed),
or the chain stops short of the head (rows cut off the end)."""

from dataclasses import dataclass

from accounts.audit_chain import HEAD_ID, guard_triggers_present, hash_of
from accounts.models import AuditChainHead, AuditEvent


@dataclass(frozen=True)
class ChainBreak:
    event_id: int | None
    reason: str


@dataclass(frozen=True)
class ChainReport:
    checked: int
    first_break: ChainBreak | None
    guarded: bool

    @property
    def intact(self) -> bool:
        return self.first_break is None


def verify_chain(*, chunk_size: int = 5000) -> ChainReport:
    prev_hash, last_id, checked = "", None, 0
    guarded = guard_triggers_present()
    for event in AuditEvent.objects.order_by("id").iterator(chunk_size=chunk_size):
        checked += 1
        if event.prev_hash != prev_hash:
            after = f"row {last_id}" if last_id is not None else "the start of the chain"
            return ChainReport(checked, ChainBreak(event.pk, f"does not follow {after}"), guarded)
        if hash_of(event) != event.row_hash:
            return ChainReport(checked, ChainBreak(event.pk, "content does not match its hash"), guarded)
        prev_hash, last_id = event.row_hash, event.pk
    head = AuditChainHead.objects.filter(pk=HEAD_ID).first()
    if head is not None and (head.last_event_id, head.last_hash) != (last_id, prev_hash):
        reason = f"the chain ends at row {last_id} but its head names row {head.last_event_id}"
        return ChainReport(checked, ChainBreak(last_id, reason), guarded)
    return ChainReport(checked, None, guarded)
