/* GET /v1/runs/{id}/costs: a run's time, tokens, tool calls and credits per step (the gateway's
 * services/gateway/api/models/costs.py is the truth for these shapes). */

import { get } from "../../../api";

export interface ModelTokens {
  model: string;
  tokens_in: number;
  tokens_out: number;
}

export interface AttemptCost {
  attempt: number;
  outcome: string | null;
  duration_ms: number | null;
  reason?: string | null;
  tokens_in: number;
  tokens_out: number;
  credits: number | null;
}

export interface StepCredits {
  /** What billing metered for the step's usage; null when billing did not answer. */
  metered: number | null;
  /** The step's part of the run's settlement; null until billing settled the run. */
  charged: number | null;
  refunded: number | null;
  unmetered_records: number | null;
}

export interface StepCost {
  task_id: string;
  kind: string | null;
  role: string | null;
  status: string;
  sub_question: string | null;
  started_at: string | null;
  ended_at: string | null;
  wall_ms: number | null;
  attempts: AttemptCost[];
  usage_records: number;
  missing_usage: number;
  tokens_in: number;
  tokens_out: number;
  by_model: ModelTokens[];
  tool_calls: Record<string, number>;
  search_calls: number;
  credits: StepCredits;
}

export interface RunCreditsTotal {
  available: boolean;
  settlement: "open" | "settled" | "refunded";
  reserved: number | null;
  metered: number | null;
  charged: number | null;
  refunded: number | null;
  settled: number | null;
  released: number | null;
  unmetered_records: number | null;
}

export interface RunCosts {
  run_id: string;
  tenant_id: string;
  state: string;
  steps: StepCost[];
  totals: {
    started_at: string | null;
    ended_at: string | null;
    wall_ms: number | null;
    steps: number;
    attempts: number;
    tokens_in: number;
    tokens_out: number;
    by_model: ModelTokens[];
    tool_calls: Record<string, number>;
    search_calls: number;
    usage_records: number;
    missing_usage: number;
    credits: RunCreditsTotal;
  };
}

/** `base` is the run's API path (`/v1/runs/<id>`). */
export const getRunCosts = (base: string, signal?: AbortSignal): Promise<RunCosts> =>
  get<RunCosts>(`${base}/costs`, signal);
