"""The read models' catch-up positions: durable, only ever forward, forgotten only on purpose."""

from __future__ import annotations

from pathlib import Path

from quarry_runtime.settings import RuntimeSettings
from quarry_runtime.store import SqlDatabase
from services.gateway.readmodels.positions import Positions


def test_a_position_moves_forward_only_and_survives_a_reopen(tmp_path: Path) -> None:
    settings = RuntimeSettings(data_dir=tmp_path)
    db = SqlDatabase(settings, "gateway")
    positions = Positions(db)
    assert positions.get("gateway-runs") == 0
    positions.advance("gateway-runs", 40)
    positions.advance("gateway-runs", 25)  # another replica's pass that ended later, having read less
    positions.advance("gateway-tasks", 7)
    assert positions.all() == {"gateway-runs": 40, "gateway-tasks": 7}
    db.close()

    reopened = Positions(SqlDatabase(settings, "gateway"))
    try:
        assert reopened.get("gateway-runs") == 40
        reopened.reset("gateway-runs")
        assert reopened.all() == {"gateway-tasks": 7}
    finally:
        reopened.db.close()
