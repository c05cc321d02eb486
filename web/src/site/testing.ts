// Fixtures the site's tests share: a content folder on disk and a plan table of the contract's shape.

import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

import type { Plans } from "./plans";

/** A content root holding `files` (path relative to the root -> text). */
export function contentDir(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "quarry-site-"));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

export function doc(title: string, order: number, section = "Concepts", body = "Text.", description?: string): string {
  const desc = description ?? `${title}: what it is, how it works, and how to use it from the workspace or the API.`;
  return `---\ntitle: ${title}\ndescription: ${desc}\norder: ${order}\nsection: ${section}\n---\n\n${body}\n`;
}

export function post(title: string, date: string, body = "Text.", description?: string): string {
  const desc = description ?? `${title}: an engineering article about how Quarry works inside, with the details.`;
  return `---\ntitle: ${title}\ndescription: ${desc}\ndate: ${date}\nauthor: Ada Lovelace\n---\n\n${body}\n`;
}

export function samplePlans(): Plans {
  return {
    credit_unit: "1 credit = 1,000 model tokens",
    plans: [
      {
        name: "free",
        monthly_credits: 500,
        price_cents: 0,
        max_depth: 2,
        max_sources: 10,
        concurrency: 5,
        max_datasets: 3,
        max_monitors: 3,
        max_documents: 200,
        max_document_bytes: 268435456,
        tools: ["index_memory", "llm_generate", "publish_report", "web_search"],
        web: false,
        overage: false,
        overage_cap: 0,
      },
      {
        name: "pro",
        monthly_credits: 10000,
        price_cents: 4900,
        max_depth: 3,
        max_sources: 50,
        concurrency: 10,
        max_datasets: 25,
        max_monitors: 25,
        max_documents: 5000,
        max_document_bytes: 10737418240,
        tools: ["fetch_url", "index_memory", "llm_generate", "publish_report", "read_dataset", "web_search"],
        web: true,
        overage: true,
        overage_cap: 20000,
      },
    ],
    overage_tiers: [
      { up_to_tokens: 500000, usd_per_1k_tokens: "0.012" },
      { up_to_tokens: 2000000, usd_per_1k_tokens: "0.008" },
      { up_to_tokens: null, usd_per_1k_tokens: "0.005" },
    ],
    credit_packs: [
      { name: "pack_1k", credits: 1000, price_cents: 1200 },
      { name: "pack_10k", credits: 10000, price_cents: 10000 },
    ],
    prices: [
      { tool: "web_search", unit: "search_call", credits: 2 },
      { tool: "publish_report", unit: "report", credits: 5 },
    ],
    budget: { throttle_from_pct: 75, block_above_pct: 90 },
    typical_run: {
      depth: 2,
      max_sources: 10,
      reserved_credits: 105,
      note: "reserved at start (an upper bound), settled against usage; the rest is refunded",
    },
    follow_up_reserved_credits: 20,
  };
}

/** Parse an HTML page the way a browser would (jsdom). */
export function dom(html: string): Document {
  return new DOMParser().parseFromString(html, "text/html");
}
