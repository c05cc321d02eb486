/* Rollouts as the gateway answers them (contracts/rollouts.py RolloutInfo is the truth). */

export type Arm = "candidate" | "stable";
export type GuardName = "error_rate" | "p95_duration" | "cost_per_run" | "citation_support" | "completion_rate";
export type HoldReason = "starved" | "metrics_error" | "sample_ratio_mismatch" | "inconclusive";
export type Verdict = "harm" | "no_harm" | "inconclusive";
export type RolloutStatus = "shadowing" | "running" | "paused" | "completed" | "rolled_back" | "aborted";
export type DecisionKind = "started" | "promoted" | "rolled_back" | "held" | "paused" | "resumed" | "aborted" | "rerandomised";

export interface Interval {
  estimate: number | null;
  lower: number | null;
  upper: number | null;
}

export interface GuardReading {
  guard: GuardName;
  stable: Interval;
  candidate: Interval;
  verdict: Verdict;
  observations: Partial<Record<Arm, number>>;
}

export interface ArmCounts {
  runs: number;
  tenants: number;
  runs_in_stage: number;
  tenants_in_stage: number;
  last_run_at: string | null;
}

export interface SampleRatio {
  expected_fraction: number;
  candidate_tenants: number;
  stable_tenants: number;
  allowed_deviation: number;
  mismatch: boolean;
}

export interface Evidence {
  percent: number;
  candidate: ArmCounts;
  stable: ArmCounts;
  guards: GuardReading[];
  sample_ratio: SampleRatio | null;
}

export interface RolloutDecision {
  kind: DecisionKind;
  at: string;
  percent: number | null;
  reason: HoldReason | null;
  guards: GuardName[];
  note: string;
  evidence: Evidence | null;
}

export interface RolloutSpec {
  component: string;
  candidate: string;
  stages: number[];
  min_runs_per_stage: number;
  min_tenants_per_stage: number;
  min_dwell_s: number;
  starved_after_s: number;
  look_every_s: number;
  guards: Record<string, unknown>;
  shadow: { sample_rate: number; min_runs: number } | null;
  audience: { pinned: Record<string, Arm>; excluded_tenants: string[]; excluded_tiers: string[] };
}

/* The shadow phase so far: candidate tasks run beside real ones on the same input, never shown. */
export interface ShadowSummary {
  observations: number;
  candidate_failures: number;
  stable_failures: number;
  mean_similarity: number | null;
  candidate_citation_support: number | null;
  stable_citation_support: number | null;
}

export interface Rollout {
  rollout_id: string;
  component: string;
  candidate: string;
  stable: string;
  status: RolloutStatus;
  percent: number;
  spec: RolloutSpec;
  salt: string;
  started_at: string;
  stage_started_at: string;
  decisions: RolloutDecision[];
  last_look: Evidence | null;
  last_look_at: string | null;
  shadow: ShadowSummary | null;
}
