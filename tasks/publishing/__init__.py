"""Phase 2: campaigns, templates, the send ledger and the channels that deliver."""
