"""The retriever's errors: one base, and `Refused` for a task it cannot do as asked."""

from __future__ import annotations


class RetrieverError(Exception):
    """Base of every error the retriever raises on its own account."""


class Refused(RetrieverError):
    """A task the retriever cannot do as asked. `retryable`: a later attempt may succeed."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class SearchError(Refused):
    """A provider could not answer. `retryable`: a later attempt may (rate limit, 5xx, network)."""


class WebUnavailable(Refused):
    """The run asked for the web and this retriever has no search API configured."""


class OffHost(Refused):
    """A batch names a page on another host than the one policy decided on."""


class NotReadable(Refused):
    """This tenant id cannot own documents, so it has no datasets to read."""
