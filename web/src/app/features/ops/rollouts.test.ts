import { describe, expect, it } from "vitest";

import { evidence, reading, rollout } from "../../testing/rollout-fixture";
import {
  chartValues,
  commandsFor,
  decisionText,
  domainOf,
  guardSeries,
  intervalText,
  lastDecision,
  linearScale,
  looks,
  stageText,
} from "./rollouts";

describe("the guard chart's scaling", () => {
  it("maps a domain onto a range linearly, an SVG's y axis downwards", () => {
    const y = linearScale([0, 10], [140, 10]);
    expect([y(0), y(5), y(10)]).toEqual([140, 75, 10]);
    const x = linearScale([1000, 3000], [52, 308]);
    expect([x(1000), x(2000), x(3000)]).toEqual([52, 180, 308]);
  });

  it("gives every set of values a span with room, and a lone or constant value one around it", () => {
    expect(domainOf([0, 10])).toEqual([-0.5, 10.5]);
    expect(domainOf([4, 4])).toEqual([3.6, 4.4]);
    expect(domainOf([0])).toEqual([-1, 1]);
    expect(domainOf([])).toEqual([0, 1]);
    expect(domainOf([Number.NaN, 2, Number.POSITIVE_INFINITY, 6])).toEqual([1.8, 6.2]);
    // A zero-width domain never divides by zero: the value sits mid-range.
    expect(linearScale([3, 3], [100, 0])(3)).toBe(50);
  });

  it("plots every look with evidence, the latest look last, and each version's estimates and bounds", () => {
    const seen = looks(rollout());
    expect(seen.map((l) => new Date(l.at).toISOString())).toEqual([
      "2026-12-07T01:10:00.000Z",
      "2026-12-07T01:20:00.000Z",
      "2026-12-07T01:30:00.000Z",
    ]);
    const errors = guardSeries(seen, "error_rate");
    expect(errors.candidate.map((p) => p.estimate)).toEqual([0.03, 0.05, 0.04]);
    expect(errors.stable.map((p) => [p.estimate, p.lower, p.upper])).toEqual([
      [0.02, 0.01, null],
      [0.02, 0.01, null],
      [0.02, 0.01, null],
    ]);
    // Unbounded sides add nothing to the axis; every finite number does.
    expect(Math.max(...chartValues(errors))).toBeCloseTo(0.1);
    expect(Math.min(...chartValues(errors))).toBeCloseTo(0.01);
    expect(guardSeries(seen, "cost_per_run")).toEqual({ candidate: [], stable: [] });
  });

  it("leaves out a version's reading without an estimate, and a latest look that is a decision's", () => {
    const r = rollout();
    r.last_look_at = "2026-12-07T01:20:00Z";
    const one = { ...evidence(25, 0.05), guards: [reading("error_rate", 0.02, null)] };
    r.decisions = r.decisions.map((d) => (d.kind === "held" ? { ...d, evidence: one } : d));
    const seen = looks(r);
    expect(seen).toHaveLength(2);
    const errors = guardSeries(seen, "error_rate");
    expect(errors.candidate.map((p) => p.estimate)).toEqual([0.03]);
    expect(errors.stable).toHaveLength(2);
  });
});

describe("the decision list's words", () => {
  it("says what each decision was, with the guards that showed harm or the reason it held", () => {
    const [started, promoted, held] = rollout().decisions;
    expect([started, promoted, held].map((d) => (d ? decisionText(d) : ""))).toEqual([
      "started",
      "promoted to 25%",
      "held: inconclusive: not enough evidence either way",
    ]);
    const back = { kind: "rolled_back", at: "2026-12-07T02:00:00Z", percent: 50, reason: null, guards: ["error_rate", "p95_duration"], note: "", evidence: null } as const;
    expect(decisionText({ ...back, guards: [...back.guards] })).toBe("rolled back: error rate, p95 duration (s) showed harm");
    expect(decisionText({ ...back, kind: "held", guards: [], reason: "starved" })).toBe("held: starved: no recent runs of a version");
    expect(lastDecision(rollout())?.kind).toBe("held");
    expect(lastDecision({ ...rollout(), decisions: [] })).toBeNull();
  });

  it("reads the stage, the intervals and the commands a status allows", () => {
    expect(stageText(rollout())).toBe("25% (stage 2 of 4)");
    expect(stageText({ ...rollout("shadowing"), percent: 0 })).toBe("shadow (before 5%)");
    expect(stageText({ ...rollout("rolled_back"), percent: 0 })).toBe("0%");
    expect(intervalText({ estimate: 0.05, lower: 0.01, upper: null })).toBe("0.05 [0.01, …]");
    expect(intervalText({ estimate: null, lower: null, upper: null })).toBe("no data");
    expect(commandsFor("running")).toEqual(["pause", "abort"]);
    expect(commandsFor("paused")).toEqual(["resume", "abort"]);
    expect(commandsFor("rolled_back")).toEqual([]);
  });
});
