import { cleanup, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import type { RunEvent } from "../events";
import { Inspector } from "./Inspector";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

/** The gateway's GET /v1/runs/r1/tasks answered as told, and /costs with a run of no step yet
 * (the network is the only stand-in). */
function serveTasks(body: unknown): string[] {
  const asked: string[] = [];
  vi.stubGlobal("fetch", (url: string) => {
    const path = new URL(url, "http://localhost").pathname;
    asked.push(path);
    return Promise.resolve(
      new Response(JSON.stringify(path.endsWith("/costs") ? NO_COSTS : body), {
        status: 200,
        headers: { "Content-Type": "application/json" },
      }),
    );
  });
  return asked;
}

const NO_COSTS = {
  run_id: "r1",
  tenant_id: "t1",
  state: "running",
  steps: [],
  totals: {
    started_at: null,
    ended_at: null,
    wall_ms: null,
    steps: 0,
    attempts: 0,
    tokens_in: 0,
    tokens_out: 0,
    by_model: [],
    tool_calls: {},
    search_calls: 0,
    usage_records: 0,
    missing_usage: 0,
    credits: {
      available: true,
      settlement: "open",
      reserved: 10,
      metered: 0,
      charged: null,
      refunded: null,
      settled: null,
      released: null,
      unmetered_records: 0,
    },
  },
};

const cell = (name: string, last = 1): string | null | undefined => {
  const row = within(screen.getByRole("table", { name: /Tasks/ })).getByRole("rowheader", { name }).closest("tr");
  const cells = row?.querySelectorAll("td");
  return cells?.[cells.length - last]?.textContent;
};

const ev = (seq: number, type: string, payload: Record<string, unknown>): RunEvent => ({
  seq,
  type,
  data: { type, event_id: `e${seq}`, payload, occurred_at: `2026-12-06T10:00:${String(seq).padStart(2, "0")}Z` },
});

const log: RunEvent[] = [
  ev(1, "task.dispatched", { task_id: "p", kind: "plan", attempt: 1 }),
  ev(2, "usage.recorded", {
    task_id: "p",
    kind: "plan",
    tool: "llm_generate",
    tokens_in: 1500,
    tokens_out: 40,
    seconds: 1.2,
    model: "fake-planner",
  }),
  ev(3, "task.succeeded", { task_id: "p", kind: "plan", attempt: 1 }),
  ev(4, "task.dispatched", { task_id: "s", kind: "search", attempt: 1 }),
  ev(5, "usage.recorded", { task_id: "s", kind: "search", tool: "web_search", search_calls: 1 }),
  ev(6, "task.succeeded", { task_id: "s", kind: "search", attempt: 1 }),
  ev(7, "task.dispatched", { task_id: "i", kind: "index", attempt: 1 }),
];

describe("the runtime inspector's task graph", () => {
  it("shows each task's usage and the credits billing metered for it in its row", async () => {
    const asked = serveTasks({
      run_id: "r1",
      tasks: [
        { task_id: "p", credits: 2 },
        { task_id: "s", credits: 1 },
        { task_id: "i", credits: 0 },
      ],
      memory: { indexed: false, chunks: 0, entries: [] },
      credits: { available: true, total: 3, unmetered_records: 1 },
    });
    render(<Inspector base="/v1/runs/r1" events={log} lastSeq={7} />);
    const table = screen.getByRole("table", { name: /Tasks/ });
    expect(within(table).getByRole("columnheader", { name: "Usage" })).toBeTruthy();
    expect(within(table).getByRole("columnheader", { name: "Credits" })).toBeTruthy();
    expect(cell("plan", 2)).toBe("1,500 in / 40 out tokens (fake-planner), 1.2 s");
    expect(cell("search", 2)).toBe("1 search");
    expect(cell("index", 2)).toBe("—");
    expect(
      await screen.findByText(/3 credits for the run's tasks, 1 usage record not metered yet/, {}, { timeout: 3000 }),
    ).toBeTruthy();
    expect(asked.sort()).toEqual(["/v1/runs/r1/costs", "/v1/runs/r1/tasks"]);
    expect(cell("plan")).toBe("2 credits");
    expect(cell("search")).toBe("1 credit");
    expect(cell("index")).toBe("0 credits");
  });

  it("says credits are unavailable when billing did not answer, and shows the usage still", async () => {
    serveTasks({
      run_id: "r1",
      tasks: [{ task_id: "p", credits: null }],
      memory: { indexed: false, chunks: 0, entries: [] },
      credits: { available: false, total: null, unmetered_records: null },
    });
    render(<Inspector base="/v1/runs/r1" events={log} lastSeq={7} />);
    expect(await screen.findByText(/Credits per task are unavailable/, {}, { timeout: 3000 })).toBeTruthy();
    expect(cell("plan")).toBe("—");
    expect(cell("plan", 2)).toBe("1,500 in / 40 out tokens (fake-planner), 1.2 s");
  });
});
