/* What the run page derives from its event log: sources as they arrive, policy decisions, and
 * the task graph with attempts, durations and usage. Pure functions of the events. */

import type { RunEvent } from "./events";

type Obj = Record<string, unknown>;

const obj = (v: unknown): Obj => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const str = (v: unknown): string => (typeof v === "string" ? v : "");
const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

export interface ArrivedSource {
  source_id: string;
  title: string;
  location: string;
  passage: string;
  sub_question: string;
}

function findingsOf(output: Obj): Obj[] {
  if (Array.isArray(output.passages)) return [output];
  return arr(output.findings).map(obj);
}

/** Every passage the run's searches, reads and fetches returned, first occurrence of each source. */
export function arrivedSources(events: readonly RunEvent[]): ArrivedSource[] {
  const out: ArrivedSource[] = [];
  const seen = new Set<string>();
  for (const ev of events) {
    if (ev.type !== "task.succeeded") continue;
    const payload = obj(ev.data.payload);
    for (const finding of findingsOf(obj(payload.output))) {
      for (const raw of arr(finding.passages)) {
        const p = obj(raw);
        const key = `${str(p.source_id)}#${str(p.location)}`;
        if (!str(p.source_id) || seen.has(key)) continue;
        seen.add(key);
        out.push({
          source_id: str(p.source_id),
          title: str(p.title) || str(p.source_id),
          location: str(p.location),
          passage: str(p.text),
          sub_question: str(finding.sub_question),
        });
      }
    }
  }
  return out;
}

export interface PolicyDecision {
  seq: number;
  tool: string;
  task_id: string;
  decision: string;
  reasons: string[];
}

export function policyDecisions(events: readonly RunEvent[]): PolicyDecision[] {
  return events
    .filter((ev) => ev.type === "tool.decided")
    .map((ev) => {
      const p = obj(ev.data.payload);
      return {
        seq: ev.seq,
        tool: str(p.tool),
        task_id: str(p.task_id),
        decision: str(p.decision),
        reasons: arr(p.reasons).map(str).filter(Boolean),
      };
    });
}

export interface TaskNode {
  task_id: string;
  kind: string;
  attempts: number;
  status: "running" | "succeeded" | "failed";
  started_at: string | null;
  ended_at: string | null;
  duration_ms: number | null;
  decision: string | null;
  reasons: string[];
  /** Summed over the task's usage records (usage.recorded), each counted once. */
  tokens: number;
  tokens_in: number;
  tokens_out: number;
  search_calls: number;
  usage_seconds: number;
  models: string[];
  usage_records: number;
  failure: string | null;
}

// The order of a run's work: plan → searches → collect → synthesise → verify → approval → index → report.
const STAGE = ["plan", "search", "read", "fetch", "collect", "synthesise", "verify", "approval", "index", "report"];
const stage = (kind: string): number => {
  const i = STAGE.indexOf(kind);
  return i < 0 ? STAGE.length : i;
};

/** What a task used, in words: "1,200 in / 300 out tokens (model-a), 3 searches, 2.5 s". */
export function usageText(t: TaskNode): string {
  const parts: string[] = [];
  if (t.tokens) {
    const models = t.models.length ? ` (${t.models.join(", ")})` : "";
    parts.push(`${t.tokens_in.toLocaleString()} in / ${t.tokens_out.toLocaleString()} out tokens${models}`);
  }
  if (t.search_calls) parts.push(`${t.search_calls.toLocaleString()} search${t.search_calls === 1 ? "" : "es"}`);
  if (t.usage_seconds) parts.push(`${t.usage_seconds.toFixed(t.usage_seconds < 10 ? 1 : 0)} s`);
  return parts.join(", ") || (t.usage_records ? "none metered" : "—");
}

export function taskGraph(events: readonly RunEvent[]): TaskNode[] {
  const nodes = new Map<string, TaskNode>();
  const node = (taskId: string, kind: string): TaskNode => {
    let found = nodes.get(taskId);
    if (!found) {
      found = {
        task_id: taskId,
        kind,
        attempts: 0,
        status: "running",
        started_at: null,
        ended_at: null,
        duration_ms: null,
        decision: null,
        reasons: [],
        tokens: 0,
        tokens_in: 0,
        tokens_out: 0,
        search_calls: 0,
        usage_seconds: 0,
        models: [],
        usage_records: 0,
        failure: null,
      };
      nodes.set(taskId, found);
    }
    if (kind && !found.kind) found.kind = kind;
    return found;
  };
  const metered = new Set<string>();
  for (const ev of events) {
    const p = obj(ev.data.payload);
    const taskId = str(p.task_id);
    if (!taskId) continue;
    const at = str(ev.data.occurred_at) || null;
    switch (ev.type) {
      case "task.dispatched": {
        const n = node(taskId, str(p.kind));
        n.attempts = Math.max(n.attempts, num(p.attempt) || 1);
        n.status = "running";
        n.started_at ??= at;
        break;
      }
      case "task.succeeded":
      case "task.failed": {
        const n = node(taskId, str(p.kind));
        n.attempts = Math.max(n.attempts, num(p.attempt) || 1);
        n.status = ev.type === "task.succeeded" ? "succeeded" : "failed";
        n.ended_at = at;
        if (ev.type === "task.failed") n.failure = str(p.reason) || null;
        if (n.started_at && at) n.duration_ms = Math.max(0, Date.parse(at) - Date.parse(n.started_at));
        break;
      }
      case "tool.decided": {
        const n = node(taskId, "");
        n.decision = str(p.decision) || null;
        n.reasons = arr(p.reasons).map(str).filter(Boolean);
        break;
      }
      case "usage.recorded": {
        // A record seen twice (a replay after reconnecting) is still one record.
        const id = str(ev.data.event_id);
        if (id && metered.has(id)) break;
        if (id) metered.add(id);
        const n = node(taskId, str(p.kind));
        const tokensIn = Math.max(0, num(p.tokens_in));
        const tokensOut = Math.max(0, num(p.tokens_out));
        n.tokens_in += tokensIn;
        n.tokens_out += tokensOut;
        n.tokens += tokensIn + tokensOut;
        n.search_calls += Math.max(0, num(p.search_calls));
        n.usage_seconds += Math.max(0, num(p.seconds));
        n.usage_records += 1;
        const model = str(p.model);
        if (model && !n.models.includes(model)) n.models.push(model);
        break;
      }
    }
  }
  return [...nodes.values()].sort((a, b) => stage(a.kind) - stage(b.kind));
}

/** The plan a run paused on for review: the latest sub-questions the log carries. */
export function reviewedPlan(events: readonly RunEvent[]): string[] | null {
  for (let i = events.length - 1; i >= 0; i--) {
    const ev = events[i];
    if (!ev) continue;
    const p = obj(ev.data.payload);
    if (ev.type.includes("plan") && Array.isArray(p.sub_questions)) return p.sub_questions.map(str).filter(Boolean);
  }
  return null;
}

/** How many chunks of the run's findings went into the tenant's memory (the `index` task). */
export function indexedChunks(events: readonly RunEvent[]): number | null {
  let chunks: number | null = null;
  for (const ev of events) {
    const p = obj(ev.data.payload);
    if (ev.type === "task.succeeded" && p.kind === "index") chunks = num(obj(p.output).chunks);
  }
  return chunks;
}

/** What billing metered for the run's tasks, as GET /v1/runs/{id}/tasks answers it. */
export interface TaskCredits {
  /** False when billing did not answer in time: no figure is shown rather than a wrong one. */
  available: boolean;
  total: number | null;
  /** Usage records billing has not metered yet: the figures may still grow. */
  unmetered: number;
  byTask: Map<string, number>;
}

/** The credits of GET /v1/runs/{id}/tasks, read defensively (anything odd counts as unknown). */
export function taskCredits(body: unknown): TaskCredits {
  const b = obj(body);
  const run = obj(b.credits);
  const byTask = new Map<string, number>();
  const available = run.available === true;
  if (available) {
    for (const raw of arr(b.tasks)) {
      const t = obj(raw);
      const id = str(t.task_id);
      if (id && typeof t.credits === "number" && Number.isFinite(t.credits)) byTask.set(id, Math.max(0, t.credits));
    }
  }
  return {
    available,
    total: available && typeof run.total === "number" ? Math.max(0, run.total) : null,
    unmetered: available ? Math.max(0, num(run.unmetered_records)) : 0,
    byTask,
  };
}
