"""Only the supervisor's report of a timed-out fetch is dropped from a service's bus log."""

from __future__ import annotations

import logging
import sys

from quarry_runtime.bus import Bus, QuietFetchTimeouts


def _record(message: str, error: BaseException | None) -> logging.LogRecord:
    exc_info = None
    if error is not None:
        try:
            raise error
        except BaseException:  # noqa: BLE001 - captured for the record, as logging does
            exc_info = sys.exc_info()
    return logging.LogRecord("faststream.svc", logging.ERROR, __file__, 1, message, None, exc_info)


def test_a_timed_out_fetch_is_dropped_and_other_failures_are_kept() -> None:
    quiet = QuietFetchTimeouts()
    retrying = "Task-24 raised an exception, retrying...\nIf this behavior causes issues, ..."
    assert not quiet.filter(_record(retrying, TimeoutError()))
    assert quiet.filter(_record(retrying, ConnectionResetError("gone")))
    assert quiet.filter(_record("handler failed", TimeoutError()))
    assert quiet.filter(_record(retrying, None))


def test_the_filter_is_on_the_service_s_broker_logger_once() -> None:
    Bus("nats://127.0.0.1:1", "logging-test")
    Bus("nats://127.0.0.1:1", "logging-test")
    filters = logging.getLogger("faststream.logging-test").filters
    assert sum(isinstance(f, QuietFetchTimeouts) for f in filters) == 1
