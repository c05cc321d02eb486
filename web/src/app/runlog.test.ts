import { describe, expect, it } from "vitest";

import type { RunEvent } from "./events";
import {
  arrivedSources,
  indexedChunks,
  policyDecisions,
  reviewedPlan,
  taskCredits,
  taskGraph,
  usageText,
} from "./runlog";

const at = (s: number) => `2026-12-06T10:00:${String(s).padStart(2, "0")}Z`;
const ev = (seq: number, type: string, payload: Record<string, unknown>): RunEvent => ({
  seq,
  type,
  data: { type, payload, occurred_at: at(seq) },
});

const str = (payload: unknown, key: string): string => {
  const value = (payload as Record<string, unknown> | undefined)?.[key];
  return typeof value === "string" ? value : "";
};

const log: RunEvent[] = [
  ev(1, "run.planned", { sub_questions: ["a?", "b?"] }),
  ev(2, "tool.decided", { task_id: "t2", tool: "web_search", decision: "allow", reasons: ["plan includes it"] }),
  ev(3, "task.dispatched", { task_id: "t2", kind: "search", attempt: 1 }),
  ev(4, "task.failed", { task_id: "t2", kind: "search", attempt: 1, reason: "timeout" }),
  ev(5, "task.dispatched", { task_id: "t2", kind: "search", attempt: 2 }),
  ev(8, "task.succeeded", {
    task_id: "t2",
    kind: "search",
    attempt: 2,
    output: {
      sub_question: "a?",
      passages: [
        { source_id: "s1", title: "One", location: "§1", text: "first" },
        { source_id: "s1", title: "One", location: "§1", text: "first again" },
      ],
    },
  }),
  ev(9, "usage.recorded", { task_id: "t2", kind: "search", tool: "web_search", search_calls: 2, tokens_in: 5 }),
  ev(10, "usage.recorded", {
    task_id: "t4",
    kind: "synthesise",
    tool: "llm_generate",
    tokens_in: 1200,
    tokens_out: 300,
    seconds: 2.5,
    model: "model-a",
  }),
  ev(10, "usage.recorded", { task_id: "t4", kind: "synthesise", tool: "llm_generate", tokens_in: 800, model: "model-b" }),
  ev(10, "task.succeeded", {
    task_id: "t3",
    kind: "read",
    output: { findings: [{ sub_question: "b?", passages: [{ source_id: "d1", title: "Doc", location: "p2", text: "x" }] }] },
  }),
  ev(11, "task.dispatched", { task_id: "t0", kind: "plan", attempt: 1 }),
  ev(12, "task.succeeded", { task_id: "t9", kind: "index", output: { chunks: 7 } }),
];

describe("what the run page reads from the log", () => {
  it("lists each source once, from searches and dataset reads", () => {
    expect(arrivedSources(log).map((s) => `${s.source_id} ${s.location} ${s.passage}`)).toEqual([
      "s1 §1 first",
      "d1 p2 x",
    ]);
  });

  it("keeps policy decisions with their reasons", () => {
    expect(policyDecisions(log)).toEqual([
      { seq: 2, tool: "web_search", task_id: "t2", decision: "allow", reasons: ["plan includes it"] },
    ]);
  });

  it("builds the task graph in the order of the work, with attempts, duration and usage", () => {
    const graph = taskGraph(log);
    expect(graph.map((t) => t.kind)).toEqual(["plan", "search", "read", "synthesise", "index"]);
    const search = graph[1];
    expect(search?.attempts).toBe(2);
    expect(search?.status).toBe("succeeded");
    expect(search?.duration_ms).toBe(5000);
    expect(search?.decision).toBe("allow");
    expect(search?.search_calls).toBe(2);
    expect(search?.tokens).toBe(5);
    expect(search && usageText(search)).toBe("5 in / 0 out tokens, 2 searches");
  });

  it("sums each task's usage records, once each, with the models that produced the tokens", () => {
    const withId = (e: RunEvent, id: string): RunEvent => ({ ...e, data: { ...e.data, event_id: id } });
    const synthLog = log.filter((e) => str(e.data.payload, "task_id") === "t4").map((e, i) => withId(e, `u${i}`));
    const replayed = [...synthLog, ...synthLog];
    const [synth] = taskGraph(replayed);
    expect(synth).toMatchObject({
      kind: "synthesise",
      tokens_in: 2000,
      tokens_out: 300,
      tokens: 2300,
      usage_seconds: 2.5,
      models: ["model-a", "model-b"],
      usage_records: 2,
    });
    expect(synth && usageText(synth)).toBe("2,000 in / 300 out tokens (model-a, model-b), 2.5 s");
  });

  it("shows a dash for a task that reported no usage", () => {
    const plan = taskGraph(log).find((t) => t.kind === "plan");
    expect(plan && usageText(plan)).toBe("—");
  });

  it("finds the plan under review and the chunks indexed", () => {
    expect(reviewedPlan(log)).toEqual(["a?", "b?"]);
    expect(indexedChunks(log)).toBe(7);
  });
});

describe("the credits of a run's tasks", () => {
  it("reads billing's figures by task, and nothing from an answer without them", () => {
    const read = taskCredits({
      tasks: [{ task_id: "a", credits: 4 }, { task_id: "b", credits: "9" }, { credits: 2 }, null],
      credits: { available: true, total: 4, unmetered_records: 2 },
    });
    expect(read.available).toBe(true);
    expect(read.total).toBe(4);
    expect(read.unmetered).toBe(2);
    expect([...read.byTask]).toEqual([["a", 4]]);
    for (const body of [null, "x", { tasks: [{ task_id: "a", credits: 4 }] }, { credits: { available: false } }]) {
      const none = taskCredits(body);
      expect(none.available).toBe(false);
      expect(none.total).toBeNull();
      expect(none.byTask.size).toBe(0);
    }
  });
});
