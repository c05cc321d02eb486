import { cleanup, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";

import type { RunEvent } from "../events";
import { Inspector } from "./Inspector";

afterEach(cleanup);

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
  it("shows each task's usage in its row", () => {
    render(<Inspector base="/v1/runs/r1" events={log} lastSeq={7} />);
    const table = screen.getByRole("table");
    const usage = (name: string): string | null | undefined => {
      const row = within(table).getByRole("rowheader", { name }).closest("tr");
      const cells = row?.querySelectorAll("td");
      return cells?.[cells.length - 1]?.textContent;
    };
    expect(within(table).getByRole("columnheader", { name: "Usage" })).toBeTruthy();
    expect(usage("plan")).toBe("1,500 in / 40 out tokens (fake-planner), 1.2 s");
    expect(usage("search")).toBe("1 search");
    expect(usage("index")).toBe("—");
    expect(screen.getByText(/Billing charges credits for the run as a whole/)).toBeTruthy();
  });
});
