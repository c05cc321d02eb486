"""A rollout's shadow task carries the run's id, but nothing of it reaches the tenant's run log:
not its dispatch, not its outcome (the candidate's output), not its platform-billed usage."""

from __future__ import annotations

from contracts.ids import new_id
from contracts.task import TaskDispatched, TaskDispatchedPayload, TaskSucceeded, TaskSucceededPayload
from contracts.usage import UsageRecorded, UsageRecordedPayload
from services.gateway.readmodels.projection import for_run_log


def test_only_the_real_tasks_events_go_to_the_run_log() -> None:
    run_id, real_id, shadow_id = new_id(), new_id(), new_id()
    marks = {"shadow": True, "shadow_of": real_id, "rollout_id": "r-1"}
    real = TaskDispatchedPayload(task_id=real_id, kind="plan", role="analyst", input={"question": "q?"})
    copy = real.model_copy(update={"task_id": shadow_id, **marks})
    events = {
        "real dispatch": (TaskDispatched.create(real, tenant_id="t1", run_id=run_id), True),
        "shadow dispatch": (TaskDispatched.create(copy, tenant_id="t1", run_id=run_id), False),
        "real outcome": (
            TaskSucceeded.create(
                TaskSucceededPayload(task_id=real_id, kind="plan", output={"sub_questions": ["a?"]}),
                tenant_id="t1",
                run_id=run_id,
            ),
            True,
        ),
        "shadow outcome": (
            TaskSucceeded.create(
                TaskSucceededPayload(task_id=shadow_id, kind="plan", output={"sub_questions": ["b?"]}, **marks),
                tenant_id="t1",
                run_id=run_id,
            ),
            False,
        ),
        "tenant usage": (
            UsageRecorded.create(
                UsageRecordedPayload(task_id=real_id, kind="plan", tool="llm_generate"), tenant_id="t1", run_id=run_id
            ),
            True,
        ),
        "platform usage": (
            UsageRecorded.create(
                UsageRecordedPayload(task_id=shadow_id, kind="plan", tool="llm_generate", billed_to="platform"),
                tenant_id="t1",
                run_id=run_id,
            ),
            False,
        ),
    }
    assert {name: for_run_log(ev) for name, (ev, _) in events.items()} == {
        name: kept for name, (_, kept) in events.items()
    }
