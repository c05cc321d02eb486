import axe from "axe-core";
import { describe, expect, it } from "vitest";

import { loadContent } from "./content";
import { buildSite } from "./site";
import { samplePlans } from "./testing";

// axe-core in jsdom, on the pages as built from web/content: every rule but colour contrast,
// which needs a real renderer (the browser tests run axe there).
describe("accessibility of every public page (axe-core)", () => {
  const site = buildSite({
    origin: "http://127.0.0.1:8000",
    stylesheet: "/assets/site.css",
    content: loadContent("content"),
    plans: samplePlans(),
    now: new Date("2026-12-06T00:00:00Z"),
  });

  it("the check itself finds a violation when there is one", async () => {
    const found = await serious('<!doctype html><html lang="en"><head><title>t</title></head><body><main><img src="/x.png"></main></body></html>');
    expect(found.join("\n")).toMatch(/^image-alt/);
  });

  it.each(site.pages.map((page) => [page.meta.path, page.html] as const))("%s has no serious or critical violation", async (_path, html) => {
    expect(await serious(html)).toEqual([]);
  });
});

async function serious(html: string): Promise<string[]> {
  const parsed = new DOMParser().parseFromString(html, "text/html");
  document.replaceChild(document.importNode(parsed.documentElement, true), document.documentElement);
  const result = await axe.run(document, { resultTypes: ["violations"], rules: { "color-contrast": { enabled: false } } });
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`);
}
