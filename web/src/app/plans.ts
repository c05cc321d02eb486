/* What the tenant's plan allows, from the plan table the build exports (src/generated/plans.json,
 * written from billing's plans.py), and the budget warnings billing's tiers imply. */

export interface PlanLimits {
  name: string;
  monthly_credits: number;
  price_cents: number;
  max_depth: number;
  max_sources: number;
  max_datasets?: number;
  max_monitors?: number;
  tools: string[];
  web: boolean;
  overage: boolean;
}

export interface PlanTable {
  plans: PlanLimits[];
  credit_packs: { name: string; credits: number; price_cents: number }[];
  budget: { throttle_from_pct: number; block_above_pct: number };
  typical_run?: { reserved_credits: number; note: string };
  follow_up_reserved_credits?: number;
}

// A glob, not an import: the file is generated at build time and a checkout without it still
// type-checks and runs (with the limits the server enforces anyway).
const generated = import.meta.glob<{ default: unknown }>("../generated/plans.json", { eager: true });

function load(): PlanTable | null {
  const mod = Object.values(generated)[0];
  const table = mod?.default as Partial<PlanTable> | undefined;
  if (!table || !Array.isArray(table.plans)) return null;
  return {
    plans: table.plans,
    credit_packs: Array.isArray(table.credit_packs) ? table.credit_packs : [],
    budget: table.budget ?? { throttle_from_pct: 75, block_above_pct: 90 },
    ...(table.typical_run ? { typical_run: table.typical_run } : {}),
    ...(table.follow_up_reserved_credits !== undefined
      ? { follow_up_reserved_credits: table.follow_up_reserved_credits }
      : {}),
  };
}

export const planTable: PlanTable | null = load();

export function planNamed(name: string | null | undefined, table: PlanTable | null = planTable): PlanLimits | null {
  if (!name || !table) return null;
  return table.plans.find((p) => p.name === name) ?? null;
}

export interface Restriction {
  field: "depth" | "sources" | "web" | "datasets" | "start";
  reason: string;
}

/** What a new run may not ask for on this plan, each with the reason shown beside the field. */
export function restrictions(
  plan: PlanLimits | null,
  planTools: readonly string[] | null,
  permissions: readonly string[] | null,
  tier: string | null,
): Restriction[] {
  const out: Restriction[] = [];
  if (permissions && !permissions.includes("runs:create")) {
    out.push({ field: "start", reason: "Your role may not start runs; ask an owner or admin." });
  }
  if (tier === "block") {
    out.push({ field: "start", reason: "This period's credits are used up (over 90% of the budget): buy credits or change plan on Billing." });
  }
  const tools = planTools ?? plan?.tools ?? null;
  const label = plan ? `The ${plan.name} plan` : "Your plan";
  if (plan) {
    out.push({ field: "depth", reason: `${label} allows depth up to ${plan.max_depth}.` });
    out.push({ field: "sources", reason: `${label} allows up to ${plan.max_sources} sources per run.` });
  }
  // Reading the open web is the plan's `fetch_url` (billing's Plan.web).
  if (tools && !tools.includes("fetch_url")) {
    out.push({ field: "web", reason: `${label} does not include web research; upgrade on Billing to search the web.` });
  }
  if (tools && !tools.includes("read_dataset")) {
    out.push({ field: "datasets", reason: `${label} does not let runs read your datasets.` });
  }
  return out;
}

export type BudgetWarning = { level: "none" } | { level: "throttle" | "block"; message: string };

/** Warnings at 75% (runs slow down) and 90% (runs are refused), from billing's thresholds. */
export function budgetWarning(
  usedPct: number,
  thresholds: { throttle_from_pct: number; block_above_pct: number } = { throttle_from_pct: 75, block_above_pct: 90 },
): BudgetWarning {
  if (usedPct >= thresholds.block_above_pct) {
    return {
      level: "block",
      message: `You have used ${Math.round(usedPct)}% of this period's credits. Above ${thresholds.block_above_pct}% new runs are refused: buy credits or change plan.`,
    };
  }
  if (usedPct >= thresholds.throttle_from_pct) {
    return {
      level: "throttle",
      message: `You have used ${Math.round(usedPct)}% of this period's credits. From ${thresholds.throttle_from_pct}% runs are throttled; at ${thresholds.block_above_pct}% they are refused.`,
    };
  }
  return { level: "none" };
}

export const formatCents = (cents: number): string =>
  cents === 0 ? "free" : `$${(cents / 100).toFixed(cents % 100 === 0 ? 0 : 2)}`;
