"""The live web path of the retriever: search APIs, polite page fetching, main-text extraction, de-duplication."""
