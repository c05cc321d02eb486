import { useCallback, useEffect, useMemo, useState, type SyntheticEvent } from "react";
import { Link, useSearchParams } from "react-router";

import { get, type BillingSummary, type RunSummary } from "../api";
import { NewRunForm } from "../features/research/components/NewRunForm";
import { credits, errorText, stateLabel, TERMINAL, when } from "../format";
import { LabelledInput, LabelledSelect } from "../components/ui/form";
import { TableHead } from "../../shared/table";

const POLL_MS = 4000;
const STATE_FILTERS = [
  ["", "All"],
  ["active", "In progress"],
  ["waiting_approval", "Awaiting approval"],
  ["awaiting_plan_review", "Awaiting plan review"],
  ["completed", "Completed"],
  ["failed", "Failed"],
  ["cancelled", "Cancelled"],
] as const;

function matchesState(run: RunSummary, filter: string): boolean {
  if (!filter) return true;
  if (filter === "active") return !TERMINAL.has(run.state);
  return run.state === filter;
}

export function ResearchPage() {
  const [params, setParams] = useSearchParams();
  const q = params.get("q") ?? "";
  const stateFilter = params.get("state") ?? "";
  const [runs, setRuns] = useState<RunSummary[] | null>(null);
  const [listError, setListError] = useState("");
  const [summary, setSummary] = useState<BillingSummary | null>(null);
  const [search, setSearch] = useState(q);

  useEffect(() => {
    document.title = "Research · Quarry";
  }, []);

  const load = useCallback(
    (signal?: AbortSignal) => {
      const query = new URLSearchParams({ limit: "100" });
      if (q) query.set("q", q);
      return get<{ runs: RunSummary[] }>(`/v1/runs?${query.toString()}`, signal).then(
        (page) => {
          // An unchanged answer keeps the rendered rows as they are (no flicker, focus and selection stay).
          setRuns((prev) => (prev !== null && JSON.stringify(prev) === JSON.stringify(page.runs) ? prev : page.runs));
          setListError("");
        },
        (exc: unknown) => {
          if (!signal?.aborted) setListError(errorText(exc));
        },
      );
    },
    [q],
  );

  useEffect(() => {
    const controller = new AbortController();
    void load(controller.signal);
    return () => {
      controller.abort();
    };
  }, [load]);

  // Live state changes: read the list again while a listed run can still change, and only while
  // the tab is visible; coming back to the tab reads it at once (a run may have started elsewhere).
  const live = runs !== null && runs.some((r) => !TERMINAL.has(r.state));
  useEffect(() => {
    const controller = new AbortController();
    let timer: number | undefined;
    const stop = () => {
      window.clearInterval(timer);
      timer = undefined;
    };
    const start = () => {
      if (live && timer === undefined && !document.hidden) {
        timer = window.setInterval(() => void load(controller.signal), POLL_MS);
      }
    };
    const onVisibility = () => {
      if (document.hidden) {
        stop();
        return;
      }
      void load(controller.signal);
      start();
    };
    start();
    document.addEventListener("visibilitychange", onVisibility);
    return () => {
      stop();
      controller.abort();
      document.removeEventListener("visibilitychange", onVisibility);
    };
  }, [live, load]);

  useEffect(() => {
    get<BillingSummary>("/v1/billing/summary?recent=0").then(setSummary, () => {
      setSummary(null); // billing down: runs still list; costs and plan limits are left out
    });
  }, [runs?.length]);

  const shown = useMemo(() => (runs ?? []).filter((r) => matchesState(r, stateFilter)), [runs, stateFilter]);

  function submitSearch(event: SyntheticEvent) {
    event.preventDefault();
    const next = new URLSearchParams(params);
    const text = search.trim().slice(0, 500);
    if (text) next.set("q", text);
    else next.delete("q");
    setParams(next);
  }

  function setFilter(value: string) {
    const next = new URLSearchParams(params);
    if (value) next.set("state", value);
    else next.delete("state");
    setParams(next);
  }

  return (
    <main id="main" className="research">
      <h1>Research</h1>
      <NewRunForm summary={summary} />
      <section aria-labelledby="runs-heading">
        <h2 id="runs-heading">Runs</h2>
        <div className="toolbar">
          <form role="search" onSubmit={submitSearch}>
            <LabelledInput id="run-search" label="Search runs" type="search" maxLength={500} value={search} onChange={setSearch} />
            <button type="submit">Search</button>
          </form>
          <div>
            <LabelledSelect id="state-filter" label="State" value={stateFilter} options={STATE_FILTERS} onChange={setFilter} />
          </div>
        </div>
        {listError ? <p role="alert">{listError}</p> : null}
        {runs === null && !listError ? <p role="status">Loading runs…</p> : null}
        {runs !== null && shown.length === 0 ? (
          <p>{q || stateFilter ? "No run matches." : "No runs yet: ask a question above."}</p>
        ) : null}
        {shown.length ? (
          <div className="table-wrap" role="region" aria-label="Runs table" tabIndex={0}>
            <table>
              <TableHead caption="Your runs, newest first" columns={["Question", "State", "When", "Cost"]} />
              <tbody>
                {shown.map((run) => {
                  const cost = run.cost?.settled ?? summary?.used_by_run[run.run_id];
                  return (
                    <tr key={run.run_id}>
                      <td>
                        <Link to={`/research/runs/${run.run_id}`}>{run.title ?? run.question}</Link>
                        {run.title ? <div className="muted">{run.question}</div> : null}
                      </td>
                      <td>
                        <span className={`state state-${run.state}`}>{stateLabel(run.state)}</span>
                      </td>
                      <td>{when(run.created_at)}</td>
                      <td>{cost === undefined ? "—" : credits(cost)}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        ) : null}
      </section>
    </main>
  );
}
