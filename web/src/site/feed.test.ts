import { describe, expect, it } from "vitest";

import { loadContent } from "./content";
import { atomFeed } from "./feed";
import { robots, sitemap } from "./sitemap";
import { contentDir, post } from "./testing";

const ORIGIN = "https://quarry.example";
const ATOM = "http://www.w3.org/2005/Atom";

function xml(text: string): Document {
  const parsed = new DOMParser().parseFromString(text, "application/xml");
  expect(parsed.getElementsByTagName("parsererror")).toHaveLength(0);
  return parsed;
}

describe("the Atom feed", () => {
  const posts = loadContent(
    contentDir({
      "blog/credits.md": post("Credits <reserved> & refunded", "2026-11-20", "Body with a [link](/docs/runs) & <b>tag</b>."),
      "blog/crash.md": post("Why a run survives a crash", "2026-10-02"),
    }),
  ).posts;

  it("is well-formed Atom with an entry per post, newest first, escaped", () => {
    const feed = xml(atomFeed(posts, ORIGIN, new Date("2030-01-01T00:00:00Z")));
    const root = feed.documentElement;
    expect(root.namespaceURI).toBe(ATOM);
    expect(root.getAttribute("xml:base")).toBe(`${ORIGIN}/`);
    const direct = (parent: Element, name: string) => [...parent.children].filter((c) => c.localName === name);
    expect(direct(root, "updated")[0]?.textContent).toBe("2026-11-20T00:00:00Z");
    expect(direct(root, "id")[0]?.textContent).toBe(`${ORIGIN}/blog`);
    const self = direct(root, "link").find((l) => l.getAttribute("rel") === "self");
    expect(self?.getAttribute("href")).toBe(`${ORIGIN}/blog/feed.xml`);
    const entries = direct(root, "entry");
    expect(entries.map((e) => direct(e, "title")[0]?.textContent)).toEqual(["Credits <reserved> & refunded", "Why a run survives a crash"]);
    const first = entries[0];
    if (first === undefined) throw new Error("no entry");
    expect(direct(first, "id")[0]?.textContent).toBe(`${ORIGIN}/blog/credits`);
    expect(direct(first, "published")[0]?.textContent).toBe("2026-11-20T00:00:00Z");
    expect(first.getElementsByTagNameNS(ATOM, "name")[0]?.textContent).toBe("Ada Lovelace");
    const content = direct(first, "content")[0];
    expect(content?.getAttribute("type")).toBe("html");
    // The HTML is carried as text: the raw <b> in the Markdown stays escaped inside it.
    expect(content?.textContent).toContain('<a href="/docs/runs">link</a>');
    expect(content?.textContent).toContain("&lt;b&gt;tag&lt;/b&gt;");
  });

  it("with no post, is still valid and dated by the build", () => {
    const feed = xml(atomFeed([], ORIGIN, new Date("2030-01-02T03:04:05.678Z")));
    expect(feed.getElementsByTagNameNS(ATOM, "updated")[0]?.textContent).toBe("2030-01-02T03:04:05Z");
    expect(feed.getElementsByTagNameNS(ATOM, "entry")).toHaveLength(0);
  });
});

describe("sitemap and robots", () => {
  it("lists absolute URLs with their dates", () => {
    const map = xml(sitemap([{ path: "/" }, { path: "/blog/a&b", lastmod: "2026-11-20" }], ORIGIN));
    const urls = [...map.getElementsByTagName("url")].map((u) => [
      u.getElementsByTagName("loc")[0]?.textContent,
      u.getElementsByTagName("lastmod")[0]?.textContent,
    ]);
    expect(urls).toEqual([
      [`${ORIGIN}/`, undefined],
      [`${ORIGIN}/blog/a&b`, "2026-11-20"],
    ]);
  });

  it("points crawlers at the sitemap and away from the workspace, the API and shared reports", () => {
    const text = robots(ORIGIN);
    expect(text).toContain(`Sitemap: ${ORIGIN}/sitemap.xml`);
    for (const path of ["/share/", "/research", "/billing", "/api/", "/v1/", "/app/"]) expect(text).toContain(`Disallow: ${path}\n`);
  });
});
