/* A rollout as the gateway answers it, for the console's tests: promoted once, then held, with
 * a latest look after its decisions. */
import type { Evidence, GuardReading, Rollout } from "../features/ops/rollout-types";

export const ROLLOUT_ID = "0123456789abcdef0123456789abcdef";
export const CANDIDATE = "c".repeat(64);
export const STABLE = "5".repeat(64);

const arm = (runs: number, tenants: number) => ({ runs, tenants, runs_in_stage: runs, tenants_in_stage: tenants, last_run_at: null });

export function reading(guard: GuardReading["guard"], stable: number, candidate: number | null, verdict: GuardReading["verdict"] = "no_harm"): GuardReading {
  return {
    guard,
    stable: { estimate: stable, lower: stable / 2, upper: null },
    candidate: { estimate: candidate, lower: candidate === null ? null : candidate / 2, upper: candidate === null ? null : candidate * 2 },
    verdict,
    observations: { stable: 40, candidate: 12 },
  };
}

export function evidence(percent: number, errorRate: number, candidateRuns = 12): Evidence {
  return {
    percent,
    candidate: arm(candidateRuns, 3),
    stable: arm(40, 9),
    guards: [reading("error_rate", 0.02, errorRate), reading("p95_duration", 10, 11)],
    sample_ratio: null,
  };
}

export function rollout(status: Rollout["status"] = "running", note = ""): Rollout {
  return {
    rollout_id: ROLLOUT_ID,
    component: "planner",
    candidate: CANDIDATE,
    stable: STABLE,
    status,
    percent: 25,
    spec: {
      component: "planner",
      candidate: CANDIDATE,
      stages: [5, 25, 50, 100],
      min_runs_per_stage: 10,
      min_tenants_per_stage: 3,
      min_dwell_s: 600,
      starved_after_s: 3600,
      look_every_s: 60,
      guards: {},
      shadow: null,
      audience: { pinned: {}, excluded_tenants: [], excluded_tiers: ["enterprise"] },
    },
    salt: "s1",
    started_at: "2026-12-07T01:00:00Z",
    stage_started_at: "2026-12-07T01:10:00Z",
    decisions: [
      { kind: "started", at: "2026-12-07T01:00:00Z", percent: 5, reason: null, guards: [], note, evidence: null },
      { kind: "promoted", at: "2026-12-07T01:10:00Z", percent: 25, reason: null, guards: [], note: "", evidence: evidence(5, 0.03) },
      { kind: "held", at: "2026-12-07T01:20:00Z", percent: 25, reason: "inconclusive", guards: [], note: "", evidence: evidence(25, 0.05) },
    ],
    last_look: evidence(25, 0.04, 20),
    last_look_at: "2026-12-07T01:30:00Z",
    shadow: null,
  };
}
