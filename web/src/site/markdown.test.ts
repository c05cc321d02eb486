import { describe, expect, it } from "vitest";

import { renderMarkdown, slugify } from "./markdown";
import { dom } from "./testing";

describe("Markdown rendering", () => {
  it("anchors headings as GitHub does, de-duplicated, and lists them", () => {
    const { html, headings } = renderMarkdown("## Stream a run's events\n\n## Errors\n\n### Errors\n");
    expect(headings).toEqual([
      { depth: 2, text: "Stream a run's events", id: "stream-a-runs-events" },
      { depth: 2, text: "Errors", id: "errors" },
      { depth: 3, text: "Errors", id: "errors-1" },
    ]);
    expect(dom(html).querySelector("h2")?.id).toBe("stream-a-runs-events");
    expect(slugify("Approve, review the plan, cancel")).toBe("approve-review-the-plan-cancel");
    expect(slugify("`GET /v1/runs/{id}`")).toBe("get-v1runsid");
  });

  it("never gives a heading an id the page around it uses", () => {
    const { headings } = renderMarkdown("## Main\n\n## Page title\n");
    expect(headings.map((h) => h.id)).toEqual(["main-1", "page-title-1"]);
  });

  it("drops a leading # title (the page has its own h1) and demotes any other h1", () => {
    const { html } = renderMarkdown("\n# Runs\n\nIntro.\n\n# Later\n");
    const page = dom(html);
    expect(page.querySelectorAll("h1")).toHaveLength(0);
    expect([...page.querySelectorAll("h2")].map((h) => h.textContent)).toEqual(["Later"]);
    expect(page.body.textContent).not.toContain("Runs");
  });

  it("shows raw HTML as text, never as markup", () => {
    const { html } = renderMarkdown('Hi <script>alert(1)</script>\n\n<img src=x onerror="alert(1)">\n');
    const page = dom(html);
    expect(page.querySelector("script")).toBeNull();
    expect(page.querySelector("img")).toBeNull();
    expect(page.body.textContent).toContain("<script>alert(1)</script>");
  });

  it("renders code blocks escaped, with their language, focusable for keyboard scrolling", () => {
    const { html } = renderMarkdown("```sh\ncurl -H 'A: <b>' \"$BASE\" && echo\n```\n");
    const pre = dom(html).querySelector("pre");
    expect(pre?.getAttribute("tabindex")).toBe("0");
    expect(pre?.querySelector("code")?.className).toBe("language-sh");
    expect(pre?.textContent).toBe("curl -H 'A: <b>' \"$BASE\" && echo");
  });

  it("frames tables so a wide one scrolls by itself", () => {
    const { html } = renderMarkdown("| a | b |\n|---|---|\n| 1 | 2 |\n");
    const frame = dom(html).querySelector(".table-wrap");
    expect(frame?.getAttribute("tabindex")).toBe("0");
    expect(frame?.querySelectorAll("td")).toHaveLength(2);
  });
});
