import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Link, useParams } from "react-router";

import { ApiError, get, post, type RunView } from "../api";
import { connectionText, useRunEvents } from "../events";
import { credits, errorText, stateLabel, TERMINAL, when } from "../format";
import { reportPassages } from "../lib/report-markdown";
import { ReportBody, SourceList, type CitedSource } from "../report";
import { arrivedSources, policyDecisions, reviewedPlan } from "../runlog";
import { ApprovalPanel } from "../features/run/components/ApprovalPanel";
import { PlanReview } from "../features/run/components/PlanReview";
import { Facts } from "../components/ui/form";
import { useAction } from "../hooks/use-action";
import { FollowUps } from "./FollowUps";
import { Inspector } from "./Inspector";
import { NotFound } from "./NotFound";
import { ShareControls } from "./ShareControls";

const VIEW_POLL_MS = 5000;

export function RunPage() {
  const { runId = "" } = useParams();
  const [view, setView] = useState<RunView | null>(null);
  const [missing, setMissing] = useState(false);
  const [error, setError] = useState("");
  const refreshTimer = useRef<number | undefined>(undefined);
  const base = `/v1/runs/${encodeURIComponent(runId)}`;

  const loadView = useCallback(
    () =>
      get<RunView>(base).then(
        (found) => {
          setView(found);
          setError("");
        },
        (exc: unknown) => {
          if (exc instanceof ApiError && (exc.status === 404 || exc.status === 422)) setMissing(true);
          else setError(errorText(exc));
        },
      ),
    [base],
  );

  // Each new event may change the view (state, cost, report): read it again, at most every 300 ms.
  const onEvent = useCallback(() => {
    window.clearTimeout(refreshTimer.current);
    refreshTimer.current = window.setTimeout(() => void loadView(), 300);
  }, [loadView]);

  const log = useRunEvents(missing ? null : `${base}/events`, onEvent);

  useEffect(() => {
    void loadView();
    return () => {
      window.clearTimeout(refreshTimer.current);
    };
  }, [loadView]);

  const terminal = view !== null && TERMINAL.has(view.state);
  useEffect(() => {
    if (terminal || missing) return;
    // States no stream event names (a pause for plan review) still show within a few seconds.
    const timer = window.setInterval(() => void loadView(), VIEW_POLL_MS);
    return () => {
      window.clearInterval(timer);
    };
  }, [terminal, missing, loadView]);

  useEffect(() => {
    document.title = `${view?.question ?? "Run"} · Quarry`;
  }, [view?.question]);

  // The run view names the report's files; the text itself is report.md, read with the session.
  const [markdown, setMarkdown] = useState<string | null>(null);
  const hasReport = view?.state === "completed" && view.report !== null;
  useEffect(() => {
    if (!hasReport) return;
    const ctl = new AbortController();
    fetch(`${base}/report.md`, { credentials: "same-origin", signal: ctl.signal })
      .then(async (r) => {
        if (!r.ok) throw new Error(`the report could not be read (HTTP ${r.status})`);
        return r.text();
      })
      .then(setMarkdown, (exc: unknown) => {
        if (!ctl.signal.aborted) setError(errorText(exc));
      });
    return () => {
      ctl.abort();
    };
  }, [base, hasReport]);

  const arrived = useMemo(() => arrivedSources(log.events), [log.events]);
  const decisions = useMemo(() => policyDecisions(log.events), [log.events]);
  const planFromLog = useMemo(() => reviewedPlan(log.events), [log.events]);

  if (missing) return <NotFound what="run" />;
  if (view === null) {
    return (
      <main id="main">
        {error ? <p role="alert">{error}</p> : <p role="status">Loading the run…</p>}
      </main>
    );
  }

  // The passage the report quotes for each source, else the one its search returned.
  const quoted = markdown === null ? new Map<number, string>() : reportPassages(markdown);
  const reportSources: CitedSource[] = view.sources.map((s) => {
    const found = arrived.find((a) => a.source_id === s.source_id && a.location === s.location)?.passage;
    const passage = quoted.get(s.number) ?? found ?? s.passage ?? null;
    return { n: s.number, title: s.title, location: s.location, url: s.url ?? null, passage };
  });
  const spent = view.cost.closed ? view.cost.settled : view.cost.settled || null;

  return (
    <main id="main" className="run">
      <p>
        <Link to="/research">← All runs</Link>
      </p>
      <h1>{view.report?.title ?? view.question ?? "Run"}</h1>
      {view.report?.title ? <p className="muted">{view.question}</p> : null}
      <div className="run-status">
        <p>
          State: <strong className={`state state-${view.state}`}>{stateLabel(view.state)}</strong>
          {view.cancel_requested && !terminal ? " (cancel requested)" : null}
        </p>
        <p role="status" aria-live="polite" className={`connection connection-${log.connection}`}>
          {connectionText(log.connection)}
        </p>
        <Facts
          facts={[
            ["Credits reserved", credits(view.cost.reserved)],
            ["Credits spent", spent === null ? "—" : credits(spent)],
            view.cost.closed ? ["Refunded", credits(view.cost.refunded)] : null,
            ["Started", when(view.created_at)],
          ]}
        />
        {view.error ? <p className="warning">Reason: {view.error}</p> : null}
        {!terminal && view.state !== "awaiting_plan_review" ? <CancelButton base={base} onDone={loadView} /> : null}
        {error ? <p role="alert">{error}</p> : null}
      </div>

      {view.state === "waiting_approval" && view.approval?.status === "pending" ? (
        <ApprovalPanel base={base} view={view} onDone={loadView} />
      ) : null}
      {view.state === "awaiting_plan_review" ? (
        <PlanReview
          base={base}
          initial={view.plan_review?.sub_questions ?? planFromLog ?? view.sub_questions}
          deadline={view.plan_review?.deadline ?? null}
          onDone={loadView}
        />
      ) : null}

      {view.state === "completed" && markdown !== null ? (
        <section aria-labelledby="report-heading" className="card">
          <h2 id="report-heading">Report</h2>
          <nav aria-label="Downloads" className="downloads">
            <a href={`${base}/report.pdf`} download>
              PDF
            </a>
            <a href={`${base}/report.md`} download>
              Markdown
            </a>
            <a href={`${base}/report.docx`} download>
              Word
            </a>
          </nav>
          <ReportBody markdown={markdown} sources={reportSources} skipTitle omitSection="Sources" />
          <SourceList sources={reportSources} level={3} />
          <ShareControls runId={runId} />
          <FollowUps runId={runId} sources={reportSources} />
        </section>
      ) : null}

      <div className="columns">
        <section aria-labelledby="steps-heading">
          <h2 id="steps-heading">Steps</h2>
          {view.steps.length === 0 ? <p className="muted">No step yet.</p> : null}
          <ol className="steps">
            {view.steps.map((s, i) => (
              <li key={`${s.step}-${i}`}>
                <strong>{s.step}</strong>: {s.status}
                {s.detail ? <span className="muted"> — {s.detail}</span> : null}
              </li>
            ))}
          </ol>
        </section>
        <section aria-labelledby="plan-heading">
          <h2 id="plan-heading">Plan</h2>
          {view.sub_questions.length === 0 ? <p className="muted">Not planned yet.</p> : null}
          <ol>
            {view.sub_questions.map((q, i) => (
              <li key={i}>{q}</li>
            ))}
          </ol>
        </section>
      </div>

      <section aria-labelledby="arrived-heading">
        <h2 id="arrived-heading">Sources found ({arrived.length})</h2>
        {arrived.length === 0 ? <p className="muted">None yet.</p> : null}
        <ul className="arrived">
          {arrived.map((s) => (
            <li key={`${s.source_id}#${s.location}`}>
              {s.title} <span className="muted">· {s.location}</span>
            </li>
          ))}
        </ul>
      </section>

      <section aria-labelledby="policy-heading">
        <h2 id="policy-heading">Policy decisions</h2>
        {decisions.length === 0 ? <p className="muted">None yet.</p> : null}
        <ul>
          {decisions.map((d) => (
            <li key={d.seq}>
              <strong>{d.tool}</strong>: <span className={`decision decision-${d.decision}`}>{d.decision}</span>
              {d.reasons.length ? <span className="muted"> — {d.reasons.join("; ")}</span> : null}
            </li>
          ))}
        </ul>
      </section>

      {view.guardrails.length ? (
        <section aria-labelledby="guard-heading">
          <h2 id="guard-heading">Guardrails</h2>
          <ul>
            {view.guardrails.map((g, i) => (
              <li key={i}>
                {g.guardrail} ({g.where}): {g.action}
              </li>
            ))}
          </ul>
        </section>
      ) : null}

      <section aria-labelledby="activity-heading">
        <h2 id="activity-heading">Activity</h2>
        {/* Every event of the run's stream once, in log order: a reconnect resumes it, never repeats it. */}
        <div role="log" aria-label="Events" aria-live="off" className="activity" tabIndex={0}>
          <ol>
            {log.events.map((ev) => (
              <li key={ev.seq} data-event-id={ev.seq}>
                <span className="muted">#{ev.seq}</span> {ev.type}
                {typeof ev.data.occurred_at === "string" ? <span className="muted"> · {when(ev.data.occurred_at)}</span> : null}
              </li>
            ))}
          </ol>
        </div>
      </section>

      <Inspector base={base} events={log.events} lastSeq={log.lastSeq} />
    </main>
  );
}

function CancelButton({ base, onDone }: { base: string; onDone: () => Promise<void> }) {
  const { busy, error, run } = useAction();
  const cancel = () =>
    run(async () => {
      await post(`${base}/cancel`, { reason: "cancelled by the user" });
      await onDone();
    });
  return (
    <div>
      <button type="button" className="danger" disabled={busy} onClick={() => void cancel()}>
        Cancel
      </button>
      <span role="alert" className="error">
        {error}
      </span>
    </div>
  );
}
