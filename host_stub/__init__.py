"""A small but real ScaiGrid host: identity, accounting, audit, database, blobs, queue, CLI."""
