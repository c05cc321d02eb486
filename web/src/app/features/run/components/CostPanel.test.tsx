import { cleanup, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { seriousViolations, sent, serve } from "../../../testing/test-utils";
import type { RunCosts, RunCreditsTotal, StepCost } from "../api/get-run-costs";
import { CostPanel } from "./CostPanel";

afterEach(() => {
  cleanup();
  vi.unstubAllGlobals();
});

const step = (over: Partial<StepCost>): StepCost => ({
  task_id: "t",
  kind: "plan",
  role: "analyst",
  status: "succeeded",
  sub_question: null,
  started_at: "2030-01-01T00:00:01Z",
  ended_at: "2030-01-01T00:00:02Z",
  wall_ms: 1500,
  attempts: [{ attempt: 1, outcome: "succeeded", duration_ms: 1500, tokens_in: 0, tokens_out: 0, credits: 0 }],
  usage_records: 1,
  missing_usage: 0,
  tokens_in: 0,
  tokens_out: 0,
  by_model: [],
  tool_calls: {},
  search_calls: 0,
  credits: { metered: 0, charged: 0, refunded: 0, unmetered_records: 0 },
  ...over,
});

const SETTLED: RunCreditsTotal = {
  available: true,
  settlement: "settled",
  reserved: 40,
  metered: 9,
  charged: 8,
  refunded: 1,
  settled: 8,
  released: 32,
  unmetered_records: 0,
};

function costsOf(steps: StepCost[], credits: RunCreditsTotal): RunCosts {
  return {
    run_id: "r1",
    tenant_id: "t1",
    state: "completed",
    steps,
    totals: {
      started_at: "2030-01-01T00:00:00Z",
      ended_at: "2030-01-01T00:00:12Z",
      wall_ms: 12000,
      steps: steps.length,
      attempts: steps.reduce((n, s) => n + s.attempts.length, 0),
      tokens_in: steps.reduce((n, s) => n + s.tokens_in, 0),
      tokens_out: steps.reduce((n, s) => n + s.tokens_out, 0),
      by_model: [],
      tool_calls: { llm_generate: 1, web_search: 2 },
      search_calls: 5,
      usage_records: 3,
      missing_usage: 0,
      credits,
    },
  };
}

const STEPS = [
  step({
    task_id: "p",
    tokens_in: 1000,
    tokens_out: 50,
    by_model: [{ model: "m-a", tokens_in: 1000, tokens_out: 50 }],
    tool_calls: { llm_generate: 1 },
    credits: { metered: 6, charged: 6, refunded: 0, unmetered_records: 0 },
  }),
  step({
    task_id: "s1",
    kind: "search",
    role: "retriever",
    sub_question: "What is a cycle?",
    wall_ms: 4500,
    attempts: [
      { attempt: 1, outcome: "failed", duration_ms: 2000, reason: "timeout", tokens_in: 0, tokens_out: 0, credits: 1 },
      { attempt: 2, outcome: "succeeded", duration_ms: 1500, tokens_in: 0, tokens_out: 0, credits: 2 },
    ],
    tool_calls: { web_search: 2 },
    search_calls: 5,
    credits: { metered: 3, charged: 2, refunded: 1, unmetered_records: 0 },
  }),
];

/** The cells of the row whose header is `name`, as text. */
function row(name: RegExp | string): string[] {
  const table = screen.getByRole("table", { name: /Cost per step/ });
  const header = within(table).getByRole("rowheader", { name });
  return Array.from(header.closest("tr")?.querySelectorAll("td") ?? []).map((c) => c.textContent);
}

describe("the Cost panel", () => {
  it("shows each step's attempts, time, tokens, tool calls and its part of the settled charge", async () => {
    serve({ "/v1/runs/r1/costs": costsOf(STEPS, SETTLED) });
    render(<CostPanel base="/v1/runs/r1" lastSeq={9} />);
    const region = await screen.findByRole("region", { name: "Cost per step table" }, { timeout: 3000 });
    expect(region).toBeTruthy();
    expect(sent.map((s) => s.path)).toEqual(["/v1/runs/r1/costs"]);
    expect(row(/^plan/)).toEqual(["1", "1.5 s", "1,000 in / 50 outm-a", "llm_generate × 1", "6 credits"]);
    expect(row(/^search/)).toEqual([
      "2 (1 failed)#1 failed 2.0 s, #2 succeeded 1.5 s",
      "4.5 s",
      "—",
      "web_search × 2",
      "2 credits1 credit refunded",
    ]);
    expect(screen.getByRole("rowheader", { name: /What is a cycle\?/ })).toBeTruthy();
    expect(row("Total")).toEqual([
      "3",
      "12 s",
      "1,000 in / 50 out",
      "llm_generate × 1, web_search × 2",
      "8 credits1 credit refunded",
    ]);
    expect(screen.getByText(/Billing settled 8 credits for this run \(of 40 credits reserved\)/)).toBeTruthy();
    expect(await seriousViolations()).toEqual([]);
  });

  it("shows what billing metered while the run is open, and says it is not settled", async () => {
    const open: RunCreditsTotal = { ...SETTLED, settlement: "open", charged: null, refunded: null, settled: null };
    const steps = [step({ credits: { metered: 4, charged: null, refunded: null, unmetered_records: 1 } })];
    serve({ "/v1/runs/r1/costs": costsOf(steps, { ...open, metered: 4, unmetered_records: 1 }) });
    render(<CostPanel base="/v1/runs/r1" lastSeq={3} />);
    await screen.findByRole("table", { name: /Cost per step/ }, { timeout: 3000 });
    expect(row(/^plan/)[4]).toBe("4 creditsmetered so far; 1 record not metered yet");
    expect(screen.getByText("Credits charged").nextSibling?.textContent).toBe("not settled yet");
    expect(screen.getByText(/the charge is settled when the run ends/)).toBeTruthy();
  });

  it("shows a run refunded in full as nothing charged", async () => {
    const refunded: RunCreditsTotal = { ...SETTLED, settlement: "refunded", charged: 0, refunded: 9, settled: null };
    const steps = [step({ credits: { metered: 9, charged: 0, refunded: 9, unmetered_records: 0 } })];
    serve({ "/v1/runs/r1/costs": costsOf(steps, refunded) });
    render(<CostPanel base="/v1/runs/r1" lastSeq={3} />);
    await screen.findByRole("table", { name: /Cost per step/ }, { timeout: 3000 });
    expect(row(/^plan/)[4]).toBe("0 credits9 credits refunded");
    expect(screen.getByText(/refunded this run in full/)).toBeTruthy();
  });

  it("keeps time and tokens and shows no credit figure when billing did not answer", async () => {
    const silent: RunCreditsTotal = { ...SETTLED, available: false, metered: null, charged: null, refunded: null };
    serve({ "/v1/runs/r1/costs": costsOf(STEPS, silent) });
    render(<CostPanel base="/v1/runs/r1" lastSeq={3} />);
    await screen.findByRole("table", { name: /Cost per step/ }, { timeout: 3000 });
    expect(row(/^plan/)[2]).toBe("1,000 in / 50 outm-a");
    expect(row(/^plan/)[4]).toBe("—");
    expect(screen.getByText(/Credits are unavailable: billing did not answer/)).toBeTruthy();
  });

  it("says so when the costs cannot be loaded", async () => {
    serve({ "/v1/runs/r1/costs": { status: 503, body: { detail: "store unavailable" } } });
    render(<CostPanel base="/v1/runs/r1" lastSeq={3} />);
    expect((await screen.findByRole("alert", {}, { timeout: 3000 })).textContent).toMatch(/store unavailable/);
  });
});
