"""Phase 4, the media library: ingest, hashing, near-duplicates, approval, performance, suggestions, variants."""
