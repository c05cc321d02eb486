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
  tokens: number;
  search_calls: number;
  failure: string | null;
}

// The order of a run's work: plan → searches → collect → synthesise → verify → approval → index → report.
const STAGE = ["plan", "search", "read", "fetch", "collect", "synthesise", "verify", "approval", "index", "report"];
const stage = (kind: string): number => {
  const i = STAGE.indexOf(kind);
  return i < 0 ? STAGE.length : i;
};

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
        search_calls: 0,
        failure: null,
      };
      nodes.set(taskId, found);
    }
    if (kind && !found.kind) found.kind = kind;
    return found;
  };
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
        const n = node(taskId, str(p.kind));
        n.tokens += num(p.tokens_in) + num(p.tokens_out);
        n.search_calls += num(p.search_calls);
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
