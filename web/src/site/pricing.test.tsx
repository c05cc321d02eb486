import { existsSync, readFileSync } from "node:fs";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";

import { Pricing } from "./pages/pricing";
import { PlansError, bytes, parsePlans, tierRange, usd } from "./plans";
import { dom, samplePlans } from "./testing";

function page(plans = samplePlans()): Document {
  return dom(renderToStaticMarkup(<Pricing plans={parsePlans(plans)} />));
}

function planCard(doc: Document, name: string): Record<string, string> {
  const card = [...doc.querySelectorAll("li.plan")].find((li) => li.querySelector("h3")?.textContent === name);
  if (card === undefined) throw new Error(`no card for the ${name} plan`);
  const facts: Record<string, string> = { price: card.querySelector(".price")?.textContent ?? "" };
  for (const dt of card.querySelectorAll("dt")) facts[dt.textContent] = dt.nextElementSibling?.textContent ?? "";
  return facts;
}

describe("/pricing from plans.json", () => {
  it("shows each plan's credits, limits and price", () => {
    const doc = page();
    expect(planCard(doc, "Free")).toMatchObject({
      price: "$0 a month",
      "Credits every month": "500",
      "Research depth": "up to 2",
      "Sources a run reads": "up to 10",
      "Runs at once": "5",
      "Web research": "not included",
      "Documents stored": "200, up to 256 MiB",
      Overage: "none",
    });
    expect(planCard(doc, "Pro")).toMatchObject({
      price: "$49 a month",
      "Credits every month": "10,000",
      "Documents stored": "5,000, up to 10 GiB",
      Overage: "up to 20,000 credits",
    });
  });

  it("shows overage tiers, credit packs, tool prices and what a typical run reserves", () => {
    const doc = page();
    const rows = (title: string) =>
      [...(doc.querySelector(`section[aria-labelledby="${title}"]`)?.querySelectorAll("tbody tr") ?? [])].map((tr) =>
        [...tr.children].map((cell) => cell.textContent),
      );
    expect(rows("overage-title")).toEqual([
      ["the first 500,000 tokens", "$0.012"],
      ["500,001 to 2,000,000 tokens", "$0.008"],
      ["above 2,000,000 tokens", "$0.005"],
    ]);
    expect(rows("packs-title")).toEqual([
      ["1,000 credits", "$12"],
      ["10,000 credits", "$100"],
    ]);
    expect(rows("prices-title")).toContainEqual(["publish_report", "publish the report", "5 per report"]);
    const typical = doc.querySelector('section[aria-labelledby="typical-title"]')?.textContent ?? "";
    expect(typical).toContain("depth 2 that reads up to 10 sources: 105 credits");
    expect(typical).toContain("follow-up question on a finished run: 20 credits");
    expect(typical).toContain("When 75% of the period's budget is used");
  });

  it("changes when billing's plan table changes", () => {
    const changed = samplePlans();
    const pro = changed.plans[1];
    if (pro === undefined) throw new Error("fixture has no pro plan");
    pro.price_cents = 5900;
    pro.monthly_credits = 12_000;
    changed.plans.push({ ...pro, name: "team", price_cents: 19_950, max_depth: 4 });
    changed.typical_run.reserved_credits = 99;
    const doc = page(changed);
    expect(planCard(doc, "Pro")).toMatchObject({ price: "$59 a month", "Credits every month": "12,000" });
    expect(planCard(doc, "Team")).toMatchObject({ price: "$199.50 a month", "Research depth": "up to 4" });
    expect(doc.body.textContent).toContain("99 credits");
    expect(doc.body.textContent).not.toContain("$49");
  });

  it.each([
    ["a missing field", (p: Record<string, unknown>) => delete (p.plans as Record<string, unknown>[])[0]?.monthly_credits, /plans\[0\]\.monthly_credits must be a whole number/],
    ["a wrong type", (p: Record<string, unknown>) => ((p.plans as Record<string, unknown>[])[1] ?? {}).web = "yes", /plans\[1\]\.web must be true or false/],
    ["a bad rate", (p: Record<string, unknown>) => ((p.overage_tiers as Record<string, unknown>[])[0] ?? {}).usd_per_1k_tokens = 0.012, /overage_tiers\[0\]\.usd_per_1k_tokens must be a non-empty string/],
    ["no plans", (p: Record<string, unknown>) => (p.plans = []), /at least one plan/],
    ["no typical run", (p: Record<string, unknown>) => delete p.typical_run, /typical_run must be an object/],
  ])("refuses plans.json with %s, naming the field", (_name, spoil, message) => {
    const raw = JSON.parse(JSON.stringify(samplePlans())) as Record<string, unknown>;
    spoil(raw);
    expect(() => parsePlans(raw)).toThrow(PlansError);
    expect(() => parsePlans(raw)).toThrow(message);
  });

  it("reads the richer exporter shape (limits grouped, credits_at_most) to the same plans", () => {
    const contract = samplePlans();
    const richer = {
      default_plan: "free",
      tokens_per_credit: 1000,
      plans: contract.plans.map(({ max_depth, max_sources, concurrency, max_datasets, max_monitors, max_documents, max_document_bytes, overage_cap, ...rest }) => ({
        ...rest,
        price_usd: (rest.price_cents / 100).toFixed(2),
        limits: { max_depth, max_sources, concurrent_runs: concurrency, max_datasets, max_monitors, max_documents, max_document_bytes },
        overage_cap_credits: overage_cap,
      })),
      credit_packs: contract.credit_packs,
      prices: contract.prices,
      overage_tiers: contract.overage_tiers,
      budget: contract.budget,
      typical_run: { depth: 2, max_sources: 10, credits_at_most: 105, items: [{ what: "searches", tool: "web_search", quantity: 5, credits: 10 }] },
      follow_up_question: { credits_at_most: 20 },
    };
    const typical = { depth: 2, max_sources: 10, reserved_credits: 105, items: [{ what: "searches", credits: 10 }] };
    expect(parsePlans(richer)).toEqual({ ...contract, default_plan: "free", typical_run: typical });
    const typicalText = page(parsePlans(richer)).querySelector('section[aria-labelledby="typical-title"]')?.textContent ?? "";
    expect(typicalText).toContain("searches: 10 credits");
    expect(() => parsePlans({ ...richer, default_plan: "gold" })).toThrow(/default_plan "gold" is not one of the plans/);
  });

  it("formats money, sizes and tiers", () => {
    expect([usd(0), usd(4900), usd(1999), usd(4_990_000)]).toEqual(["$0", "$49", "$19.99", "$49,900"]);
    expect([bytes(268435456), bytes(10 * 1024 ** 3), bytes(1500)]).toEqual(["256 MiB", "10 GiB", "1,500 bytes"]);
    expect(tierRange([{ up_to_tokens: null, usd_per_1k_tokens: "0.01" }], 0)).toBe("all tokens");
  });

  it("reads the plans.json the build generated from services/billing/plans.py", () => {
    const file = "src/generated/plans.json";
    if (!existsSync(file)) {
      throw new Error(`${file} is missing: run \`python -m devtools.export_plans --out web/${file}\` from the repo root (make web does)`);
    }
    const plans = parsePlans(JSON.parse(readFileSync(file, "utf8")));
    expect(plans.plans.map((plan) => plan.name)).toContain("free");
    const doc = page(plans);
    expect(doc.querySelectorAll("li.plan")).toHaveLength(plans.plans.length);
  });
});
