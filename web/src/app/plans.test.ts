import { describe, expect, it } from "vitest";

import { budgetWarning, planNamed, restrictions, type PlanLimits, type PlanTable } from "./plans";

const free: PlanLimits = {
  name: "free",
  monthly_credits: 500,
  price_cents: 0,
  max_depth: 2,
  max_sources: 10,
  tools: ["index_memory", "llm_generate", "publish_report", "web_search"],
  web: false,
  overage: false,
};

describe("budget warnings", () => {
  it("are silent below 75%", () => {
    expect(budgetWarning(74.9).level).toBe("none");
  });

  it("warn from 75% that runs are throttled", () => {
    const warning = budgetWarning(75);
    expect(warning.level).toBe("throttle");
    if (warning.level !== "none") expect(warning.message).toMatch(/75%/);
  });

  it("warn from 90% that runs are refused", () => {
    const warning = budgetWarning(93.4);
    expect(warning.level).toBe("block");
    if (warning.level !== "none") expect(warning.message).toMatch(/93% .*refused/);
  });

  it("follow billing's thresholds when the plan table gives others", () => {
    expect(budgetWarning(60, { throttle_from_pct: 50, block_above_pct: 80 }).level).toBe("throttle");
  });
});

describe("what a plan does not allow", () => {
  it("names the free plan's limits with reasons", () => {
    const found = restrictions(free, free.tools, ["runs:create"], "allow");
    const by = (field: string) => found.filter((r) => r.field === field).map((r) => r.reason);
    expect(by("depth")).toEqual(["The free plan allows depth up to 2."]);
    expect(by("web")[0]).toMatch(/does not include web research/);
    expect(by("datasets")[0]).toMatch(/does not let runs read your datasets/);
    expect(by("start")).toEqual([]);
  });

  it("stops a start when the budget is blocked or the role may not create runs", () => {
    const found = restrictions(null, null, ["runs:read"], "block").filter((r) => r.field === "start");
    expect(found).toHaveLength(2);
  });

  it("finds a plan by name in the table", () => {
    const table: PlanTable = { plans: [free], credit_packs: [], budget: { throttle_from_pct: 75, block_above_pct: 90 } };
    expect(planNamed("free", table)?.max_sources).toBe(10);
    expect(planNamed("pro", table)).toBeNull();
  });
});
