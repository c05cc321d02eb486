/* Rollouts as an operator reads them: status and stage in words, each decision with the numbers
 * behind it, and the guard metrics per version over time laid out for a plain SVG chart. */

import type { Arm, Evidence, GuardName, GuardReading, Interval, Rollout, RolloutDecision, RolloutStatus } from "./rollout-types";

/** The components an agent version configures (contracts/agents.py Component). */
export const COMPONENTS = ["planner", "synthesiser", "answerer", "ranker"] as const;

/** How often a page reads a rollout that can still move by itself. */
export const POLL_MS = 5000;

export const GUARDS: readonly GuardName[] = ["error_rate", "p95_duration", "cost_per_run", "completion_rate", "citation_support"];

export const GUARD_TEXT: Record<GuardName, string> = {
  error_rate: "Error rate",
  p95_duration: "p95 duration (s)",
  cost_per_run: "Cost per run (credits)",
  completion_rate: "Completion rate",
  citation_support: "Citation support",
};

const STATUS_TEXT: Record<RolloutStatus, string> = {
  shadowing: "shadowing (the candidate runs unseen)",
  running: "running",
  paused: "paused",
  completed: "completed: the candidate is the stable version",
  rolled_back: "rolled back",
  aborted: "aborted",
};

export function statusText(status: RolloutStatus): string {
  return STATUS_TEXT[status];
}

/** A rollout that moves by itself (its timer looks at the guards): the pages read it again. */
export function isLive(rollout: Rollout): boolean {
  return rollout.status === "running" || rollout.status === "shadowing" || rollout.status === "paused";
}

/** The operator's buttons a rollout in this status takes (the orchestrator refuses the rest, 409). */
export function commandsFor(status: RolloutStatus): ("pause" | "resume" | "abort")[] {
  if (status === "running" || status === "shadowing") return ["pause", "abort"];
  if (status === "paused") return ["resume", "abort"];
  return [];
}

/** A version's content hash, short enough for a table: its first 8 digits. */
export function shortHash(version: string): string {
  return version.slice(0, 8);
}

/** "25% (stage 2 of 4)"; "shadow (before 5%)" while shadowing; 0% once over without success. */
export function stageText(rollout: Rollout): string {
  const stages = rollout.spec.stages;
  if (rollout.status === "shadowing") return `shadow (before ${String(stages[0] ?? 0)}%)`;
  const at = stages.indexOf(rollout.percent);
  return at < 0 ? `${String(rollout.percent)}%` : `${String(rollout.percent)}% (stage ${String(at + 1)} of ${String(stages.length)})`;
}

/** "candidate 25% · stable 75%" of the tenants' buckets. */
export function splitText(percent: number): string {
  return `candidate ${String(percent)}% · stable ${String(100 - percent)}%`;
}

const DECISION_TEXT: Record<RolloutDecision["kind"], string> = {
  started: "started",
  promoted: "promoted",
  rolled_back: "rolled back",
  held: "held",
  paused: "paused",
  resumed: "resumed",
  aborted: "aborted",
  rerandomised: "tenants re-randomised",
};

const REASON_TEXT: Record<NonNullable<RolloutDecision["reason"]>, string> = {
  starved: "starved: no recent runs of a version",
  metrics_error: "the metrics could not be read",
  sample_ratio_mismatch: "sample-ratio mismatch: the split is off its target",
  inconclusive: "inconclusive: not enough evidence either way",
};

/** One decision in words: "promoted to 25%", "rolled back: error rate showed harm", "held: starved…". */
export function decisionText(decision: RolloutDecision): string {
  const what = DECISION_TEXT[decision.kind];
  if (decision.kind === "promoted" && decision.percent !== null) return `${what} to ${String(decision.percent)}%`;
  if (decision.kind === "rolled_back" && decision.guards.length) {
    return `${what}: ${decision.guards.map((g) => GUARD_TEXT[g].toLowerCase()).join(", ")} showed harm`;
  }
  if (decision.reason) return `${what}: ${REASON_TEXT[decision.reason]}`;
  return what;
}

/** The newest decision, or null before any (the contract lists them oldest first). */
export function lastDecision(rollout: Rollout): RolloutDecision | null {
  return rollout.decisions.length ? (rollout.decisions[rollout.decisions.length - 1] ?? null) : null;
}

/** A number as the tables show it: up to 4 significant digits; "—" for none. */
export function metric(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return Number(value.toPrecision(4)).toLocaleString(undefined, { maximumFractionDigits: 6 });
}

/** "0.05 [0.01, 0.12]": an arm's estimate and its always-valid interval ("…" where unbounded). */
export function intervalText(interval: Interval): string {
  if (interval.estimate === null) return "no data";
  const low = interval.lower === null ? "…" : metric(interval.lower);
  const high = interval.upper === null ? "…" : metric(interval.upper);
  return `${metric(interval.estimate)} [${low}, ${high}]`;
}

/** The runs and tenants each version had in the stage: what a decision was taken on. */
export function countsText(evidence: Evidence): string {
  const arm = (name: Arm) => `${name} ${evidence[name].runs_in_stage.toLocaleString()} runs / ${evidence[name].tenants_in_stage.toLocaleString()} tenants`;
  return `${arm("candidate")}; ${arm("stable")}`;
}

/** Each guard's verdict at a look, "error rate: no harm; …". */
export function verdictsText(readings: readonly GuardReading[]): string {
  return readings.map((r) => `${GUARD_TEXT[r.guard].toLowerCase()}: ${r.verdict.replace("_", " ")}`).join("; ");
}

// -- the chart ------------------------------------------------------------------------------

/** One look at the guards: the decisions that carry evidence, then the latest look if newer. */
export interface Look {
  at: number;
  evidence: Evidence;
}

export function looks(rollout: Rollout): Look[] {
  const found: Look[] = [];
  for (const decision of rollout.decisions) {
    const at = Date.parse(decision.at);
    if (decision.evidence && Number.isFinite(at)) found.push({ at, evidence: decision.evidence });
  }
  const last = rollout.last_look_at ? Date.parse(rollout.last_look_at) : NaN;
  if (rollout.last_look && Number.isFinite(last) && !found.some((look) => look.at === last)) {
    found.push({ at: last, evidence: rollout.last_look });
  }
  return found.sort((a, b) => a.at - b.at);
}

export interface GuardPoint {
  at: number;
  estimate: number;
  lower: number | null;
  upper: number | null;
}

/** One guard's points per version over the looks (a look without an estimate for it adds none). */
export function guardSeries(all: readonly Look[], guard: GuardName): Record<Arm, GuardPoint[]> {
  const series: Record<Arm, GuardPoint[]> = { candidate: [], stable: [] };
  for (const look of all) {
    const reading = look.evidence.guards.find((r) => r.guard === guard);
    if (!reading) continue;
    for (const arm of ["candidate", "stable"] as const) {
      const { estimate, lower, upper } = reading[arm];
      if (estimate === null || !Number.isFinite(estimate)) continue;
      series[arm].push({ at: look.at, estimate, lower: finite(lower), upper: finite(upper) });
    }
  }
  return series;
}

function finite(value: number | null): number | null {
  return value !== null && Number.isFinite(value) ? value : null;
}

/** The span a chart's axis covers: every value inside with a little room, never empty (one value
 * alone, or all equal, gets a span around it, so it is drawn mid-axis, not on an edge). */
export function domainOf(values: readonly number[]): [number, number] {
  const seen = values.filter((v) => Number.isFinite(v));
  if (!seen.length) return [0, 1];
  const low = Math.min(...seen);
  const high = Math.max(...seen);
  if (low === high) {
    const room = low === 0 ? 1 : Math.abs(low) * 0.1;
    return [low - room, high + room];
  }
  const room = (high - low) * 0.05;
  return [low - room, high + room];
}

/** A linear map from `domain` to `range` (an SVG's y grows downwards: pass [bottom, top]). */
export function linearScale(domain: readonly [number, number], range: readonly [number, number]): (value: number) => number {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  const span = d1 - d0;
  return (value) => (span === 0 ? (r0 + r1) / 2 : r0 + ((value - d0) / span) * (r1 - r0));
}

/** The values a guard's chart must show: every estimate and every finite bound. */
export function chartValues(series: Record<Arm, GuardPoint[]>): number[] {
  return [...series.candidate, ...series.stable].flatMap((p) => [p.estimate, ...(p.lower === null ? [] : [p.lower]), ...(p.upper === null ? [] : [p.upper])]);
}
