"""Retriever service: sources, chunking, lexical BM25 and the Qdrant-backed source index."""
