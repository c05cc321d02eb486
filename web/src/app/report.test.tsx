import { cleanup, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";

import { headingSlugs, parseBlocks, reportPassages, withoutSection } from "./lib/report-markdown";
import { ReportBody, safeHref, SourceList, type CitedSource } from "./report";

// Vitest runs without globals here, so Testing Library cannot unmount between tests by itself.
afterEach(cleanup);

const sources: CitedSource[] = [
  { n: 1, title: "Solar cell efficiency tables", location: "§2", passage: "Perovskite cells reached 26%." },
  { n: 2, title: "Grid storage review", location: "chunk 4", url: "https://example.org/storage" },
  { n: 3, title: "IEA outlook", location: "p. 12" },
];

describe("the report renderer", () => {
  it("links each [n] to its source and passage", () => {
    render(
      <>
        <ReportBody markdown={"# Title\n\nCells got better [1]. Storage too [2, 3]."} sources={sources} skipTitle />
        <SourceList sources={sources} />
      </>,
    );
    const first = screen.getByRole("link", { name: "Source 1: Solar cell efficiency tables" });
    expect(first.getAttribute("href")).toBe("#source-1");
    expect(screen.getByRole("link", { name: "Source 2: Grid storage review" }).getAttribute("href")).toBe("#source-2");
    expect(screen.getByRole("link", { name: "Source 3: IEA outlook" }).getAttribute("href")).toBe("#source-3");
    // The target exists and carries the passage.
    const target = document.getElementById("source-1");
    expect(target?.textContent).toContain("Perovskite cells reached 26%.");
    expect(screen.queryByRole("heading", { name: "Title" })).toBeNull();
  });

  it("leaves a citation with no such source as plain text", () => {
    render(<ReportBody markdown={"Claim [9]."} sources={sources} />);
    expect(screen.queryByRole("link")).toBeNull();
    expect(document.body.textContent).toContain("[9]");
  });

  it("never renders the report's HTML or a script link", () => {
    render(
      <ReportBody
        markdown={'<img src=x onerror="alert(1)"> and [click](javascript:alert(1)) and [ok](https://example.org)'}
        sources={[]}
      />,
    );
    expect(document.querySelector("img")).toBeNull();
    expect(screen.getAllByRole("link").map((a) => a.getAttribute("href"))).toEqual(["https://example.org"]);
    expect(document.body.textContent).toContain("<img src=x");
  });

  it("parses headings, lists and paragraphs", () => {
    const blocks = parseBlocks("## Findings\n\n- one [1]\n- two\n\n1. first\n2. second\n\nA paragraph\nthat wraps.");
    expect(blocks.map((b) => b.kind)).toEqual(["heading", "list", "list", "para"]);
    expect(blocks[3]).toEqual({ kind: "para", text: "A paragraph that wraps." });
  });

  it("accepts only web links and same-origin paths", () => {
    expect(safeHref("https://a.example/x")).toBe("https://a.example/x");
    expect(safeHref("/v1/runs/1/report.pdf")).toBe("/v1/runs/1/report.pdf");
    expect(safeHref("//evil.example")).toBeNull();
    expect(safeHref("data:text/html,hi")).toBeNull();
  });

  it("leaves out the section the page shows its own way, and only that one", () => {
    const blocks = parseBlocks("# T\n\n## Findings\n\nA [1].\n\n## Sources\n\n1. One\n\n### Detail\n\nx\n\n## Methods\n\nm");
    const kept = withoutSection(blocks, "Sources");
    expect(kept.map((b) => (b.kind === "heading" ? b.text : b.kind))).toEqual(["T", "Findings", "para", "Methods", "para"]);
  });

  it("anchors headings as the reporter's contents link to them, and renders its tables", () => {
    expect(headingSlugs(["Contents", "What is Python's GC?", "Methods", "Methods"])).toEqual([
      "contents",
      "what-is-pythons-gc",
      "methods",
      "methods-1",
    ]);
    render(
      <ReportBody
        markdown={"# T\n\n## Methods\n\n| Sub-question | Passages |\n|---|---|\n| Why \\| how? | 8 [1] |\n"}
        sources={sources}
        skipTitle
      />,
    );
    expect(screen.getByRole("heading", { name: "Methods" }).id).toBe("methods");
    expect(screen.getByRole("columnheader", { name: "Sub-question" })).toBeTruthy();
    expect(screen.getByRole("cell", { name: "Why | how?" })).toBeTruthy();
  });

  it("shows escaped characters and entities as themselves, never as citations", () => {
    render(<ReportBody markdown={"Not a cite \\[1\\], a \\*star\\* &amp; more [1]."} sources={sources} />);
    expect(screen.getByText(/Not a cite \[1\], a \*star\* & more/)).toBeTruthy();
    expect(screen.getAllByRole("link")).toHaveLength(1);
  });

  it("reads each source's quoted passage from the report's Sources section", () => {
    const md = "# T\n\n## Sources\n\n1. gc — part 1\n\n   > Collects \\*cycles\\* &amp; more.\n\n2. weakref\n\n10. x\n\n    > ten\n\n## After\n\n   > not a passage\n";
    const passages = reportPassages(md);
    expect(passages.get(1)).toBe("Collects *cycles* & more.");
    expect(passages.has(2)).toBe(false);
    expect(passages.get(10)).toBe("ten");
    expect(passages.size).toBe(2);
  });
});
