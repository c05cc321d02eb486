"""The generated runs now live in `tests.support.runs_fixture`; this name stays only while
tests/unit/test_gateway_run_view.py (another workstream's file) still imports it from here."""

from tests.support.runs_fixture import Fixture, gateway_events, generate

__all__ = ["Fixture", "gateway_events", "generate"]
