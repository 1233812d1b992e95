"""The sync engine: push (merge, receipts, conflicts), pull (xid-watermark cursor), resolution,
attachments. The merge rules themselves are pure and live in ``sync_protocol.merge``."""
