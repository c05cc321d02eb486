import { describe, expect, it } from "vitest";

import { DEFAULT_ORIGIN, siteOrigin } from "./config";
import { loadContent } from "./content";
import { type SiteInput, SiteError, buildSite } from "./site";
import { contentDir, doc, dom, post, samplePlans } from "./testing";

const ORIGIN = "https://quarry.example";

function input(files: Record<string, string>): SiteInput {
  return {
    origin: ORIGIN,
    stylesheet: "/assets/site-abc.css",
    content: loadContent(contentDir(files)),
    plans: samplePlans(),
    now: new Date("2026-12-06T00:00:00Z"),
  };
}

const FILES = {
  "docs/getting-started.md": doc("Getting started", 1, "Guides", "# Getting started\n\nSee [runs](/docs/runs#states) and [pricing](/pricing)."),
  "docs/runs.md": doc("Runs", 2, "Concepts", "## States\n\nText.\n\n## Main\n\n## Cancelling\n\n[Log in](/login?next=/research), [API](/api/docs)."),
  "docs/api.md": doc("REST and SSE API", 1, "API", "```sh\ncurl $BASE/v1/runs\n```"),
  "blog/how-citations-are-checked.md": post("How Quarry checks every citation", "2026-11-20", "Read [the docs](/docs)."),
  "blog/why-a-run-survives.md": post("Why a run survives a crash", "2026-10-02"),
};

describe("the built site", () => {
  const site = buildSite(input(FILES));
  const byPath = new Map(site.pages.map((page) => [page.meta.path, page]));

  it("has every page and file the contract names", () => {
    expect(site.files.map((file) => file.file).sort()).toEqual(
      [
        "index.html",
        "pricing/index.html",
        "docs/index.html",
        "docs/getting-started/index.html",
        "docs/runs/index.html",
        "docs/api/index.html",
        "blog/index.html",
        "blog/how-citations-are-checked/index.html",
        "blog/why-a-run-survives/index.html",
        "404.html",
        "blog/feed.xml",
        "sitemap.xml",
        "robots.txt",
      ].sort(),
    );
  });

  it("gives every page a unique title and description, a canonical URL and Open Graph tags", () => {
    const titles = new Set<string>();
    const descriptions = new Set<string>();
    for (const page of site.pages) {
      const html = dom(page.html);
      const meta = (selector: string) => html.querySelector(selector)?.getAttribute("content") ?? "";
      titles.add(html.title);
      descriptions.add(meta('meta[name="description"]'));
      expect(html.documentElement.lang).toBe("en");
      expect(meta('meta[property="og:title"]')).toBe(html.title);
      expect(meta('meta[property="og:description"]')).toBe(meta('meta[name="description"]'));
      const url = `${ORIGIN}${page.meta.path}`;
      expect(meta('meta[property="og:url"]')).toBe(url);
      if (page.meta.noindex === true) {
        expect(meta('meta[name="robots"]')).toBe("noindex");
      } else {
        expect(html.querySelector('link[rel="canonical"]')?.getAttribute("href")).toBe(url);
      }
    }
    expect(titles.size).toBe(site.pages.length);
    expect(descriptions.size).toBe(site.pages.length);
  });

  it("gives every page a skip link, landmarks, one h1 and no script to run", () => {
    for (const page of site.pages) {
      const html = dom(page.html);
      const skip = html.querySelector("body > a.skip-link");
      expect(skip?.getAttribute("href")).toBe("#main");
      expect(html.querySelector("main#main")).not.toBeNull();
      expect(html.querySelector("header nav[aria-label]")).not.toBeNull();
      expect(html.querySelector("footer")).not.toBeNull();
      expect(html.querySelectorAll("h1")).toHaveLength(1);
      const ids = [...html.querySelectorAll("[id]")].map((el) => el.id);
      expect(new Set(ids).size).toBe(ids.length);
      expect([...html.querySelectorAll("script")].every((s) => s.type === "application/ld+json")).toBe(true);
      expect(html.querySelector('link[rel="stylesheet"]')?.getAttribute("href")).toBe("/assets/site-abc.css");
    }
  });

  it("lands on what Quarry does, with sign-up and docs calls to action", () => {
    const html = dom(byPath.get("/")?.html ?? "");
    const links = [...html.querySelectorAll("main a")].map((a) => [a.textContent, a.getAttribute("href")]);
    expect(links).toContainEqual(["Sign up", "/signup"]);
    expect(links).toContainEqual(["Read the docs", "/docs"]);
    const headings = [...html.querySelectorAll("main h3")].map((h) => h.textContent);
    expect(headings).toEqual(expect.arrayContaining(["Plan", "Search", "Cited synthesis", "Approval", "Report"]));
    expect(headings).toEqual(expect.arrayContaining(["Every claim cited and checked", "Replayable runs", "Per-tool policy", "Exact credits"]));
  });

  it("indexes the docs by section and links each page's neighbours", () => {
    const index = dom(byPath.get("/docs")?.html ?? "");
    expect([...index.querySelectorAll("main section h2")].map((h) => h.textContent)).toEqual(["Guides", "Concepts", "API"]);
    const runs = dom(byPath.get("/docs/runs")?.html ?? "");
    expect(runs.querySelector("h1")?.textContent).toBe("Runs");
    expect(runs.querySelector('nav[aria-label="Documentation"] a[aria-current="page"]')?.getAttribute("href")).toBe("/docs/runs");
    expect([...runs.querySelectorAll('nav[aria-label="On this page"] a')].map((a) => a.getAttribute("href"))).toEqual(["#states", "#main-1", "#cancelling"]);
    expect(runs.querySelector('a[rel="prev"]')?.getAttribute("href")).toBe("/docs/getting-started");
    expect(runs.querySelector('a[rel="next"]')?.getAttribute("href")).toBe("/docs/api");
  });

  it("dates and signs blog posts, with BlogPosting structured data", () => {
    const html = dom(byPath.get("/blog/how-citations-are-checked")?.html ?? "");
    expect(html.querySelector("main time")?.getAttribute("datetime")).toBe("2026-11-20");
    expect(html.querySelector(".byline")?.textContent).toBe("20 November 2026 · Ada Lovelace");
    expect(html.querySelector('meta[property="og:type"]')?.getAttribute("content")).toBe("article");
    const data = JSON.parse(html.querySelector('script[type="application/ld+json"]')?.textContent ?? "null") as Record<string, unknown>;
    expect(data).toMatchObject({
      "@type": "BlogPosting",
      headline: "How Quarry checks every citation",
      datePublished: "2026-11-20",
      author: { "@type": "Person", name: "Ada Lovelace" },
      url: `${ORIGIN}/blog/how-citations-are-checked`,
    });
    const index = dom(byPath.get("/blog")?.html ?? "");
    expect([...index.querySelectorAll("main h2 a")].map((a) => a.textContent)).toEqual([
      "How Quarry checks every citation",
      "Why a run survives a crash",
    ]);
  });

  it("lists every indexable page in the sitemap, not the 404 page", () => {
    const map = site.files.find((file) => file.file === "sitemap.xml")?.body ?? "";
    const locs = [...map.matchAll(/<loc>([^<]*)<\/loc>/g)].map((m) => m[1]);
    expect(locs).toHaveLength(site.pages.length - 1);
    expect(locs).toContain(`${ORIGIN}/docs/runs`);
    expect(locs).not.toContain(`${ORIGIN}/404.html`);
    expect(map).toContain(`<loc>${ORIGIN}/blog/why-a-run-survives</loc><lastmod>2026-10-02</lastmod>`);
  });

  it("escapes what front matter carries", () => {
    const built = buildSite(
      input({
        "docs/x.md": doc("<script>alert(1)</script> & co", 1, "Guides", "Text.", 'A description with "quotes", <tags> & ampersands, long enough to pass.'),
      }),
    );
    const page = built.pages.find((p) => p.meta.path === "/docs/x")?.html ?? "";
    expect(page).not.toContain("<script>alert(1)</script>");
    const html = dom(page);
    expect(html.querySelector("h1")?.textContent).toBe("<script>alert(1)</script> & co");
    expect(html.querySelector('meta[name="description"]')?.getAttribute("content")).toBe(
      'A description with "quotes", <tags> & ampersands, long enough to pass.',
    );
  });
});

describe("the build refuses", () => {
  it("two pages with the same description", () => {
    const same = "The same description on two pages, which a search result could not tell apart.";
    expect(() => buildSite(input({ "docs/a.md": doc("A", 1, "Guides", "x", same), "blog/b.md": post("B", "2026-11-20", "x", same) }))).toThrow(
      /\/blog\/b has the same description as \/docs\/a/,
    );
  });

  it("two pages with the same title", () => {
    expect(() => buildSite(input({ "docs/a.md": doc("Pricing", 1) }))).toThrow(SiteError);
    expect(() => buildSite(input({ "docs/a.md": doc("Pricing", 1) }))).toThrow(/\/docs\/a has the same title as \/pricing/);
  });

  it("a link to a page or an anchor that does not exist", () => {
    expect(() => buildSite(input({ "docs/a.md": doc("A", 1, "Guides", "[x](/docs/nope)") }))).toThrow(/\/docs\/a: link "\/docs\/nope" reaches no page/);
    expect(() => buildSite(input({ "docs/a.md": doc("A", 1, "Guides", "## Here\n\n[x](/docs/a#there)") }))).toThrow(
      /\/docs\/a has no heading or element with id "there"/,
    );
    expect(() => buildSite(input({ "docs/a.md": doc("A", 1, "Guides", "[x](runs)") }))).toThrow(/relative link "runs"/);
  });
});

describe("QUARRY_PUBLIC_URL", () => {
  it("defaults to the local gateway and keeps only the origin", () => {
    expect(siteOrigin(undefined)).toBe(DEFAULT_ORIGIN);
    expect(siteOrigin("")).toBe(DEFAULT_ORIGIN);
    expect(siteOrigin("https://quarry.example/")).toBe("https://quarry.example");
    expect(siteOrigin("http://localhost:8080")).toBe("http://localhost:8080");
  });

  it.each(["quarry.example", "ftp://quarry.example", "https://quarry.example/app", "https://quarry.example/?a=1"])(
    "refuses %s",
    (value) => {
      expect(() => siteOrigin(value)).toThrow(/QUARRY_PUBLIC_URL/);
    },
  );
});

describe("the real web/content", () => {
  it("builds: front matter valid, titles and descriptions unique, every link reaching a page", () => {
    const site = buildSite({ ...input({}), content: loadContent("content") });
    expect(site.pages.length).toBeGreaterThanOrEqual(5);
  });
});
