"""The orchestrator's follow-up use cases: each takes one bus event, changes a Question, saves it.

Mixed into the Orchestrator so questions share its store, outbox and group commit; a question
is saved and loaded with the application's `_save` / `_load` like runs and monitors.
"""

from __future__ import annotations

import contextlib
from collections import Counter

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from contracts.credits import CreditsDenied, CreditsReserved
from contracts.envelope import Event
from contracts.question import QUESTION_CREDITS_TIMEOUT, QuestionAsked
from contracts.task import TaskFailed, TaskSucceeded
from contracts.timer import TimerFired
from contracts.tool import ToolDecided
from quarry_runtime.errors import NotReady, Rejected
from quarry_runtime.eventsourced import EventSourcedApplication
from quarry_security.guardrails import injection_findings
from services.orchestrator.asker import asked_by
from services.orchestrator.questions.domain import CREDITS_WAIT_S, Question, advance
from services.orchestrator.runs.domain import Run
from services.orchestrator.tasks import answer_deadline


class QuestionUseCases(EventSourcedApplication):
    """Use cases of follow-up questions, on the store, clock and group commit of the application."""

    def get_question(self, question_id: str) -> Question:
        question: Question = self._load(Question.create_id(question_id))
        return question

    def ask_question(self, ev: QuestionAsked) -> None:
        """Open the Question; it fails at once unless it asks about a completed run of its tenant."""
        p = ev.payload
        try:
            self.get_question(p.question_id)
            return  # a redelivered question
        except AggregateNotFoundError:
            pass
        run, problem = self._asked_about(p.run_id, ev.tenant_id)
        question = Question(
            **p.model_dump(include={"question_id", "run_id", "text", "scope"}),
            **asked_by(ev),
            cause=ev.event_id,
            traceparent=ev.trace.traceparent,
            run_question=run.question if run is not None else "",
            awaiting_credits=True,
        )
        if problem:
            question.fail(problem)
        else:
            advance(question)
        with contextlib.suppress(IntegrityError):  # another replica opened it a moment ago
            self._save(question)

    def admit_question(self, ev: CreditsReserved) -> None:
        """Billing holds the question's credits: start recalling."""
        question = self._question_of_credits(ev)
        if question is None or not question.awaiting_credits:
            return
        question.hold_credits(ev.payload.amount, ev.event_id)
        # Screened once its credits are held, like a run's question: the failure then always
        # closes a hold billing knows of, and refunds it.
        injections = Counter(f.kind for f in injection_findings(question.text))
        if injections:
            question.reject_injection(dict(injections))
        else:
            advance(question)
        self._save(question)

    def refuse_question(self, ev: CreditsDenied) -> None:
        """The balance cannot cover the question: it ends before any tool runs, nothing charged."""
        question = self._question_of_credits(ev)
        if question is None:
            return
        question.fail(f"no credits for the question: {ev.payload.reason}")
        self._save(question)

    def decide_question_tool(self, ev: ToolDecided) -> None:
        """Policy answered a question's tool request: dispatch, or end the question."""
        question = self._question_for(ev)
        if question is None or (task := question.requested_task(ev.payload.task_id)) is None:
            return
        p = ev.payload
        if p.decision == "allow":
            question.authorise_task(task.task_id, p.policy_ids, p.policy_version, ev.event_id, self.clock())
        else:
            # A follow-up does not park for a human: asking again is cheaper than waiting.
            reasons = p.reasons or [f"policy answered {p.decision}"]
            question.deny_task(task.task_id, reasons, p.policy_ids, ev.event_id)
        advance(question)
        self._save(question)

    def finish_question_task(self, ev: TaskSucceeded | TaskFailed) -> None:
        """A worker finished an attempt of a question's task: record it, start what follows."""
        question = self._question_for(ev)
        if question is None:
            return
        task = question.task(ev.payload.task_id)
        if not task.is_running(ev.payload.attempt):
            return  # settled already, or an answer to an attempt since replaced
        if isinstance(ev, TaskSucceeded):
            question.record_success(task.task_id, ev.payload.output, ev.payload.usage_event_ids, ev.event_id)
        else:
            p = ev.payload
            question.record_failure(task.task_id, p.reason, p.retryable, p.usage_event_ids, ev.event_id, self.clock())
        advance(question)
        self._save(question)

    def time_out_question_task(self, ev: TimerFired) -> None:
        """A question's task did not answer in time: dispatch it again, or end the question.
        Or billing never held nor denied its credits: end it (billing refunds any late hold)."""
        question = self._question_for(ev)
        if question is None:
            return
        if ev.payload.purpose == QUESTION_CREDITS_TIMEOUT:
            if question.awaiting_credits:
                question.fail(f"billing did not hold or deny the question's credits within {CREDITS_WAIT_S}s")
                self._save(question)
            return
        task = question.tasks.get(ev.payload.task_id or "")
        if task is None or not task.is_running(ev.payload.attempt):
            return  # answered in time, or a timer of an attempt since replaced
        reason = f"no answer within {answer_deadline(task.timeout_s).total_seconds():.0f}s of its dispatch"
        question.record_failure(task.task_id, reason, True, [], ev.event_id, self.clock())
        advance(question)
        self._save(question)

    def _question_for(self, ev: Event) -> Question | None:
        """The live question whose saga the event belongs to; None when it has seen the event."""
        if not ev.run_id:
            raise Rejected("event carries no question id")
        return self._live_question(ev.run_id, ev.event_id)

    def _question_of_credits(self, ev: CreditsReserved | CreditsDenied) -> Question | None:
        """A question's credits name it in the payload: their envelope carries no run id."""
        if not ev.payload.question_id:
            raise Rejected("credits event names no question")
        return self._live_question(ev.payload.question_id, ev.event_id)

    def _live_question(self, question_id: str, event_id: str) -> Question | None:
        try:
            found = self._load(Question.create_id(question_id))
        except AggregateNotFoundError:
            raise NotReady(f"question {question_id} is not known yet") from None
        except ValueError:
            raise Rejected(f"{question_id!r} is no question id") from None
        if not isinstance(found, Question):
            raise Rejected(f"{question_id} is not a question")
        if found.has_seen(event_id) or found.is_terminal:
            return None
        return found

    def _asked_about(self, run_id: str, tenant_id: str) -> tuple[Run | None, str | None]:
        """The completed run of the tenant a question asks about, or why there is none."""
        try:
            run = self._load(Run.create_id(run_id))
        except (AggregateNotFoundError, ValueError):
            return None, "the run is not known"
        if not isinstance(run, Run) or run.tenant_id != tenant_id:
            return None, "the run is not known"
        if run.state != "completed":
            return None, f"the run is {run.state}, not completed"
        return run, None
