"""The raw-HTTP simulated tablet of the sync tests: now in ``tests.devices`` with the other
fake tablets (kept importable here)."""

from tests.devices import Exchange, LocalRecord, OutboxEntry, SimDevice, SyncFailure

__all__ = ["Exchange", "LocalRecord", "OutboxEntry", "SimDevice", "SyncFailure"]
