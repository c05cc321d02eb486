"""The retriever's use cases: search, fetch, read, recall, index and uploads."""
