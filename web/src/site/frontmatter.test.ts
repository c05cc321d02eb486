import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";

import { ContentError, loadContent } from "./content";
import { FrontMatterError, docMeta, parseFrontMatter, postMeta } from "./frontmatter";
import { contentDir, doc, post } from "./testing";

const DESC = "A description long enough to be a meta description, and short enough for it.";

function parseDoc(text: string) {
  const { fields } = parseFrontMatter(text, "docs/x.md");
  return docMeta(fields, "docs/x.md");
}

describe("front matter", () => {
  it("reads a doc's keys, plain or quoted, with YAML comments", () => {
    const parsed = parseFrontMatter(
      `---\ntitle: "Runs: \\"states\\""\ndescription: '${DESC.replace("meta", "meta ''quoted''")}'\norder: 2   # position\nsection: Concepts\n---\n# Body\n`,
      "docs/runs.md",
    );
    expect(docMeta(parsed.fields, "docs/runs.md")).toEqual({
      title: 'Runs: "states"',
      description: DESC.replace("meta", "meta 'quoted'"),
      order: 2,
      section: "Concepts",
    });
    expect(parsed.body).toBe("# Body\n");
  });

  it("reads a blog post's keys", () => {
    const { fields } = parseFrontMatter(`---\ntitle: T\ndescription: ${DESC}\ndate: 2026-11-20\nauthor: Ada Lovelace\n---\n`, "b.md");
    expect(postMeta(fields, "b.md")).toEqual({ title: "T", description: DESC, date: "2026-11-20", author: "Ada Lovelace" });
  });

  it.each([
    ["no block", "# Title\n", /docs\/x.md: must start with a front-matter block/],
    ["unclosed block", "---\ntitle: T\n", /not closed/],
    ["missing key", `---\ntitle: T\ndescription: ${DESC}\norder: 1\n---\n`, /missing front-matter key\(s\) section/],
    ["empty key", `---\ntitle:\ndescription: ${DESC}\norder: 1\nsection: API\n---\n`, /missing front-matter key\(s\) title/],
    ["unknown key", `---\ntitle: T\ndescription: ${DESC}\norder: 1\nsection: API\ntags: x\n---\n`, /unknown front-matter key\(s\) tags/],
    ["duplicate key", `---\ntitle: T\ntitle: U\n---\n`, /docs\/x.md:3: key 'title' appears twice/],
    ["not key: value", `---\ntitle T\n---\n`, /docs\/x.md:2: expected 'key: value'/],
    ["nested value", `---\ntitle: T\n  sub: x\n---\n`, /indented lines/],
    ["order not a number", `---\ntitle: T\ndescription: ${DESC}\norder: first\nsection: API\n---\n`, /order must be a whole number/],
    ["unknown section", `---\ntitle: T\ndescription: ${DESC}\norder: 1\nsection: Misc\n---\n`, /section must be one of Guides, Concepts, API, Operations/],
    ["short description", `---\ntitle: T\ndescription: Too short.\norder: 1\nsection: API\n---\n`, /description is 10 characters, it must be 50-160/],
    ["long description", `---\ntitle: T\ndescription: ${"x".repeat(161)}\norder: 1\nsection: API\n---\n`, /description is 161 characters, at most 160/],
    ["unterminated quote", `---\ntitle: "T\n---\n`, /unterminated double-quoted value/],
  ])("fails on %s with the file and what is wrong", (_name, text, message) => {
    expect(() => parseDoc(text)).toThrow(FrontMatterError);
    expect(() => parseDoc(text)).toThrow(message);
  });

  it.each(["2026-02-30", "20-11-2026", "2026-11-20T10:00:00Z", "yesterday"])("rejects the blog date %s", (date) => {
    const { fields } = parseFrontMatter(`---\ntitle: T\ndescription: ${DESC}\ndate: ${date}\nauthor: A\n---\n`, "b.md");
    expect(() => postMeta(fields, "b.md")).toThrow(/b.md: date must be an ISO date/);
  });
});

describe("loading web/content", () => {
  it("publishes .md files, skips those starting with _ or ., and orders docs by section then order", () => {
    const root = contentDir({
      "docs/api.md": doc("API", 1, "API"),
      "docs/runs.md": doc("Runs", 2),
      "docs/credits.md": doc("Credits", 8),
      "docs/start.md": doc("Getting started", 1, "Guides"),
      "docs/_draft.md": "not even front matter",
      "docs/.hidden.md": "nor this",
      "docs/notes.txt": "nor this",
      "blog/older.md": post("Older", "2026-10-01"),
      "blog/newer.md": post("Newer", "2026-11-20"),
      "blog/_sample.md": post("Sample", "2026-12-01"),
    });
    const content = loadContent(root);
    expect(content.docs.map((d) => d.slug)).toEqual(["start", "runs", "credits", "api"]);
    expect(content.posts.map((p) => p.slug)).toEqual(["newer", "older"]);
  });

  it("reports every bad file at once, each with its path", () => {
    const root = contentDir({
      "docs/a.md": doc("A", 1, "Nowhere"),
      "docs/b.md": "no front matter",
      "docs/Bad Name.md": doc("C", 1),
      "docs/index.md": doc("Index", 1),
      "blog/c.md": post("C", "2026-13-01"),
    });
    let message = "";
    try {
      loadContent(root);
    } catch (error) {
      expect(error).toBeInstanceOf(ContentError);
      message = (error as Error).message;
    }
    expect(message).toMatch(/5 problem/);
    expect(message).toMatch(/docs\/a.md: section must be one of/);
    expect(message).toMatch(/docs\/b.md: must start with a front-matter block/);
    expect(message).toMatch(/docs\/Bad Name.md: file name must be a slug/);
    expect(message).toMatch(/docs\/index.md: the docs index page is generated/);
    expect(message).toMatch(/blog\/c.md: date must be an ISO date/);
  });

  it("an empty or missing content folder is an empty site, not an error", () => {
    expect(loadContent(contentDir({}))).toEqual({ docs: [], posts: [] });
  });

  it("the committed _sample- files are valid examples of the shape", () => {
    for (const [file, meta] of [
      ["content/docs/_sample-page.md", docMeta],
      ["content/blog/_sample-post.md", postMeta],
    ] as const) {
      const { fields } = parseFrontMatter(readFileSync(file, "utf8"), file);
      expect(() => meta(fields, file)).not.toThrow();
    }
  });
});
