// The plan table /pricing is generated from: web/src/generated/plans.json, which
// `python -m devtools.export_plans` writes from services/billing/plans.py. Checked on read so a
// change of shape fails the build with the field's name rather than rendering "undefined".

export interface Plan {
  name: string;
  monthly_credits: number;
  price_cents: number;
  max_depth: number;
  max_sources: number;
  concurrency: number;
  max_datasets: number;
  max_monitors: number;
  max_documents: number;
  max_document_bytes: number;
  tools: string[];
  web: boolean;
  overage: boolean;
  overage_cap: number;
}

export interface OverageTier {
  up_to_tokens: number | null;
  usd_per_1k_tokens: string;
}

export interface CreditPack {
  name: string;
  credits: number;
  price_cents: number;
}

export interface ToolPrice {
  tool: string;
  unit: string;
  credits: number;
}

export interface Plans {
  credit_unit: string;
  /** The plan a new workspace starts on, when the exporter says. */
  default_plan?: string;
  plans: Plan[];
  overage_tiers: OverageTier[];
  credit_packs: CreditPack[];
  prices: ToolPrice[];
  budget: { throttle_from_pct: number; block_above_pct: number };
  typical_run: {
    depth: number;
    max_sources: number;
    reserved_credits: number;
    note?: string;
    /** What the reservation is made of, when the exporter itemises it. */
    items?: { what: string; credits: number }[];
  };
  follow_up_reserved_credits: number;
}

export class PlansError extends Error {
  override name = "PlansError";
}

type Json = Record<string, unknown>;

function object(value: unknown, where: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new PlansError(`${where} must be an object`);
  return value as Json;
}

function list(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) throw new PlansError(`${where} must be a list`);
  return value;
}

function count(obj: Json, key: string, where: string): number {
  const value = obj[key];
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0) {
    throw new PlansError(`${where}.${key} must be a whole number >= 0, got ${JSON.stringify(value)}`);
  }
  return value;
}

function str(obj: Json, key: string, where: string): string {
  const value = obj[key];
  if (typeof value !== "string" || value === "") throw new PlansError(`${where}.${key} must be a non-empty string`);
  return value;
}

function bool(obj: Json, key: string, where: string): boolean {
  const value = obj[key];
  if (typeof value !== "boolean") throw new PlansError(`${where}.${key} must be true or false`);
  return value;
}

function decimal(obj: Json, key: string, where: string): string {
  const value = str(obj, key, where);
  if (!/^\d+(\.\d+)?$/.test(value)) throw new PlansError(`${where}.${key} must be a decimal string like "0.012"`);
  return value;
}

function rename(obj: Json, from: string, to: string): void {
  if (obj[to] === undefined && obj[from] !== undefined) obj[to] = obj[from];
}

/**
 * The shape web-contract.md names, from the shape of a richer exporter too: limits grouped
 * under `limits`, `overage_cap_credits`, `tokens_per_credit`, `typical_run.credits_at_most`,
 * `follow_up_question.credits_at_most`. Either reads to the same Plans.
 */
function normalise(raw: unknown): unknown {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return raw;
  const root = structuredClone(raw) as Json;
  if (Array.isArray(root.plans)) {
    for (const plan of root.plans as unknown[]) {
      if (typeof plan !== "object" || plan === null) continue;
      const p = plan as Json;
      if (typeof p.limits === "object" && p.limits !== null) {
        for (const [key, value] of Object.entries(p.limits as Json)) if (p[key] === undefined) p[key] = value;
      }
      rename(p, "concurrent_runs", "concurrency");
      rename(p, "overage_cap_credits", "overage_cap");
    }
  }
  if (root.credit_unit === undefined && typeof root.tokens_per_credit === "number") {
    root.credit_unit = `1 credit = ${root.tokens_per_credit.toLocaleString("en-US")} model tokens`;
  }
  if (typeof root.typical_run === "object" && root.typical_run !== null) rename(root.typical_run as Json, "credits_at_most", "reserved_credits");
  const followUp = root.follow_up_question;
  if (root.follow_up_reserved_credits === undefined && typeof followUp === "object" && followUp !== null) {
    root.follow_up_reserved_credits = (followUp as Json).credits_at_most;
  }
  return root;
}

/** The plan table from parsed JSON; unknown extra fields are ignored. */
export function parsePlans(raw: unknown): Plans {
  const root = object(normalise(raw), "plans.json");
  const plans = list(root.plans, "plans").map((item, i): Plan => {
    const where = `plans[${i}]`;
    const p = object(item, where);
    return {
      name: str(p, "name", where),
      monthly_credits: count(p, "monthly_credits", where),
      price_cents: count(p, "price_cents", where),
      max_depth: count(p, "max_depth", where),
      max_sources: count(p, "max_sources", where),
      concurrency: count(p, "concurrency", where),
      max_datasets: count(p, "max_datasets", where),
      max_monitors: count(p, "max_monitors", where),
      max_documents: count(p, "max_documents", where),
      max_document_bytes: count(p, "max_document_bytes", where),
      tools: list(p.tools, `${where}.tools`).map((tool, j) => {
        if (typeof tool !== "string") throw new PlansError(`${where}.tools[${j}] must be a string`);
        return tool;
      }),
      web: bool(p, "web", where),
      overage: bool(p, "overage", where),
      overage_cap: count(p, "overage_cap", where),
    };
  });
  if (plans.length === 0) throw new PlansError("plans must name at least one plan");
  const tiers = list(root.overage_tiers, "overage_tiers").map((item, i): OverageTier => {
    const where = `overage_tiers[${i}]`;
    const t = object(item, where);
    return {
      up_to_tokens: t.up_to_tokens === null ? null : count(t, "up_to_tokens", where),
      usd_per_1k_tokens: decimal(t, "usd_per_1k_tokens", where),
    };
  });
  const packs = list(root.credit_packs, "credit_packs").map((item, i): CreditPack => {
    const where = `credit_packs[${i}]`;
    const c = object(item, where);
    return { name: str(c, "name", where), credits: count(c, "credits", where), price_cents: count(c, "price_cents", where) };
  });
  const prices = list(root.prices, "prices").map((item, i): ToolPrice => {
    const where = `prices[${i}]`;
    const c = object(item, where);
    return { tool: str(c, "tool", where), unit: str(c, "unit", where), credits: count(c, "credits", where) };
  });
  const budget = object(root.budget, "budget");
  const typical = object(root.typical_run, "typical_run");
  const defaultPlan = root.default_plan === undefined ? undefined : str(root, "default_plan", "plans.json");
  if (defaultPlan !== undefined && !plans.some((plan) => plan.name === defaultPlan)) {
    throw new PlansError(`default_plan ${JSON.stringify(defaultPlan)} is not one of the plans`);
  }
  return {
    credit_unit: str(root, "credit_unit", "plans.json"),
    ...(defaultPlan === undefined ? {} : { default_plan: defaultPlan }),
    plans,
    overage_tiers: tiers,
    credit_packs: packs,
    prices,
    budget: {
      throttle_from_pct: count(budget, "throttle_from_pct", "budget"),
      block_above_pct: count(budget, "block_above_pct", "budget"),
    },
    typical_run: {
      depth: count(typical, "depth", "typical_run"),
      max_sources: count(typical, "max_sources", "typical_run"),
      reserved_credits: count(typical, "reserved_credits", "typical_run"),
      ...(typical.note === undefined ? {} : { note: str(typical, "note", "typical_run") }),
      ...(typical.items === undefined
        ? {}
        : {
            items: list(typical.items, "typical_run.items").map((item, i) => {
              const where = `typical_run.items[${i}]`;
              const it = object(item, where);
              return { what: str(it, "what", where), credits: count(it, "credits", where) };
            }),
          }),
    },
    follow_up_reserved_credits: count(root, "follow_up_reserved_credits", "plans.json"),
  };
}

// Formatting, in one place so the page and its tests agree.

export function number(n: number): string {
  return n.toLocaleString("en-US");
}

export function usd(cents: number): string {
  const dollars = cents / 100;
  return Number.isInteger(dollars) ? `$${number(dollars)}` : `$${dollars.toFixed(2)}`;
}

export function bytes(n: number): string {
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1 && value % 1024 === 0) {
    value /= 1024;
    unit++;
  }
  return `${number(value)} ${units[unit] ?? "bytes"}`;
}

export function planTitle(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1).replace(/_/g, " ");
}

const TOOLS: Record<string, string> = {
  web_search: "search for passages",
  fetch_url: "read web pages",
  llm_generate: "plan and write with the model",
  index_memory: "index findings into memory",
  recall_memory: "recall from memory (follow-ups)",
  answer_question: "answer a follow-up",
  publish_report: "publish the report",
  read_dataset: "search your datasets",
};

/** What a tool does, in a few words; an unknown tool is shown by its name. */
export function toolLabel(tool: string): string {
  return TOOLS[tool] ?? tool;
}

const UNITS: Record<string, string> = {
  search_call: "search call",
  page: "page fetched",
  "1k_tokens": "1,000 model tokens",
  compute_minute: "compute minute",
  report: "report",
  query: "dataset query",
};

export function unitLabel(unit: string): string {
  return UNITS[unit] ?? unit.replace(/_/g, " ");
}

/** "the first 500,000 tokens", "500,001 to 2,000,000 tokens", "above 2,000,000 tokens". */
export function tierRange(tiers: OverageTier[], index: number): string {
  const tier = tiers[index];
  const previous = index > 0 ? tiers[index - 1]?.up_to_tokens ?? null : 0;
  if (tier === undefined) return "";
  if (tier.up_to_tokens === null) return previous === 0 || previous === null ? "all tokens" : `above ${number(previous)} tokens`;
  if (previous === 0 || previous === null) return `the first ${number(tier.up_to_tokens)} tokens`;
  return `${number(previous + 1)} to ${number(tier.up_to_tokens)} tokens`;
}
