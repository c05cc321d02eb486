/* A report's Markdown rendered as React elements (never as HTML: the text comes from a model and
 * from web pages). Each citation [n] becomes a link to source n and its passage. */

import type { ReactNode } from "react";

export interface CitedSource {
  n: number;
  title: string;
  location?: string | null;
  url?: string | null;
  passage?: string | null;
}

export const sourceAnchor = (n: number): string => `source-${n}`;

/** Only web links and same-origin paths become anchors; `javascript:` and the like stay text. */
export function safeHref(href: string): string | null {
  const trimmed = href.trim();
  if (/^https?:\/\//i.test(trimmed)) return trimmed;
  if (trimmed.startsWith("/") && !trimmed.startsWith("//")) return trimmed;
  if (trimmed.startsWith("#")) return trimmed;
  return null;
}

// The reporter writes untrusted text with Markdown's backslash escapes and `&amp;`: an escaped
// character is shown as itself (and so "\\[1\\]" is never a citation), the entities decoded.
const INLINE =
  /(\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\](?!\()|\[([^\]]+)\]\(([^)\s]+)\)|\*\*([^*]+)\*\*|`([^`]+)`|\*([^*\s][^*]*)\*|_([^_\s][^_]*)_|\\([!-/:-@[-`{-~])|&(amp|lt|gt|quot|#39);)/g;
const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', "#39": "'" };

export function renderInline(text: string, sources: ReadonlyMap<number, CitedSource>, key: string): ReactNode[] {
  const out: ReactNode[] = [];
  let last = 0;
  let i = 0;
  for (const match of text.matchAll(INLINE)) {
    const at = match.index;
    if (at > last) out.push(text.slice(last, at));
    const k = `${key}-${i++}`;
    const [whole, , cites, linkText, linkHref, bold, code, em1, em2, escaped, entity] = match;
    if (cites !== undefined) {
      const numbers = cites.split(",").map((s) => Number(s.trim()));
      out.push(
        <sup key={k} className="cite">
          [
          {numbers.map((n, j) => {
            const source = sources.get(n);
            const sep = j > 0 ? ", " : "";
            if (!source) return <span key={n}>{sep}{n}</span>;
            return (
              <span key={n}>
                {sep}
                <a href={`#${sourceAnchor(n)}`} aria-label={`Source ${n}: ${source.title}`}>
                  {n}
                </a>
              </span>
            );
          })}
          ]
        </sup>,
      );
    } else if (linkText !== undefined && linkHref !== undefined) {
      const href = safeHref(linkHref);
      out.push(
        href ? (
          <a key={k} href={href} rel="noopener noreferrer nofollow">
            {linkText}
          </a>
        ) : (
          linkText
        ),
      );
    } else if (bold !== undefined) {
      out.push(<strong key={k}>{renderInline(bold, sources, k)}</strong>);
    } else if (code !== undefined) {
      out.push(<code key={k}>{code}</code>);
    } else if (em1 !== undefined || em2 !== undefined) {
      out.push(<em key={k}>{em1 ?? em2}</em>);
    } else if (escaped !== undefined) {
      out.push(escaped);
    } else if (entity !== undefined) {
      out.push(ENTITIES[entity] ?? whole);
    } else {
      out.push(whole);
    }
    last = at + whole.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

export type Block =
  | { kind: "heading"; level: number; text: string }
  | { kind: "para"; text: string }
  | { kind: "list"; ordered: boolean; items: string[] }
  | { kind: "quote"; text: string }
  | { kind: "code"; text: string }
  | { kind: "table"; header: string[]; rows: string[][] };

const TABLE_ROW = /^\s*\|.*\|\s*$/;
const TABLE_RULE = /^\s*\|?(\s*:?-{3,}:?\s*\|)+\s*$/;

/** A Markdown table row's cells: split at each pipe the writer did not escape. */
function cells(line: string): string[] {
  const parts = line.trim().split(/(?<!\\)\|/);
  return parts.slice(1, -1).map((c) => c.trim());
}

/** GitHub-style anchors, as the reporter writes its contents' links: lower case, punctuation
 * dropped, spaces as hyphens, repeats numbered. */
export function headingSlugs(texts: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return texts.map((text) => {
    const plain = text.replace(/\\(.)/g, "$1").toLowerCase();
    const slug = Array.from(plain)
      .filter((ch) => /[\p{L}\p{N} _-]/u.test(ch))
      .join("")
      .replaceAll(" ", "-");
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    return count ? `${slug}-${count}` : slug;
  });
}

export function parseBlocks(markdown: string): Block[] {
  const lines = markdown.replace(/\r\n?/g, "\n").split("\n");
  const blocks: Block[] = [];
  let para: string[] = [];
  const flush = () => {
    if (para.length) blocks.push({ kind: "para", text: para.join(" ") });
    para = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? "";
    if (line.startsWith("```")) {
      flush();
      const body: string[] = [];
      for (i++; i < lines.length && !(lines[i] ?? "").startsWith("```"); i++) body.push(lines[i] ?? "");
      blocks.push({ kind: "code", text: body.join("\n") });
      continue;
    }
    if (TABLE_ROW.test(line) && TABLE_RULE.test(lines[i + 1] ?? "")) {
      flush();
      const header = cells(line);
      const rows: string[][] = [];
      for (i += 2; i < lines.length && TABLE_ROW.test(lines[i] ?? ""); i++) rows.push(cells(lines[i] ?? ""));
      i--;
      blocks.push({ kind: "table", header, rows });
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    const bullet = /^\s*[-*+]\s+(.*)$/.exec(line);
    const numbered = /^\s*\d+[.)]\s+(.*)$/.exec(line);
    if (heading) {
      flush();
      blocks.push({ kind: "heading", level: (heading[1] ?? "#").length, text: (heading[2] ?? "").trim() });
    } else if (bullet || numbered) {
      flush();
      const ordered = !bullet;
      const item = ((bullet ?? numbered)?.[1] ?? "").trim();
      const prev = blocks[blocks.length - 1];
      if (prev?.kind === "list" && prev.ordered === ordered) prev.items.push(item);
      else blocks.push({ kind: "list", ordered, items: [item] });
    } else if (line.startsWith(">")) {
      flush();
      const text = line.replace(/^>\s?/, "");
      const prev = blocks[blocks.length - 1];
      if (prev?.kind === "quote") prev.text += ` ${text}`;
      else blocks.push({ kind: "quote", text });
    } else if (line.trim() === "" || /^\s*(---+|\*\*\*+)\s*$/.test(line)) {
      flush();
    } else {
      para.push(line.trim());
    }
  }
  flush();
  return blocks;
}

/** Markdown's backslash escapes and the entities the reporter writes, undone: plain text. */
export function unescapeMarkdown(text: string): string {
  return text.replace(/\\([!-/:-@[-`{-~])|&(amp|lt|gt|quot|#39);/g, (whole, ch: string | undefined, entity: string | undefined) =>
    ch ?? ENTITIES[entity ?? ""] ?? whole,
  );
}

/** The passage each numbered source of the report's Sources section quotes (`n. title` then an
 * indented `> passage`), by source number: the run's log keeps no passages. */
export function reportPassages(markdown: string, heading = "Sources"): Map<number, string> {
  const out = new Map<number, string>();
  let inSection = false;
  let current: number | null = null;
  for (const line of markdown.replace(/\r\n?/g, "\n").split("\n")) {
    const h = /^(#{1,6})\s+(.*)$/.exec(line);
    if (h) {
      inSection = (h[2] ?? "").trim().toLowerCase() === heading.toLowerCase();
      current = null;
      continue;
    }
    if (!inSection) continue;
    const item = /^(\d{1,3})\.\s/.exec(line);
    if (item) {
      current = Number(item[1]);
      continue;
    }
    const quote = /^\s+>\s?(.*)$/.exec(line);
    if (quote && current !== null) {
      const text = unescapeMarkdown(quote[1] ?? "");
      out.set(current, out.has(current) ? `${out.get(current) ?? ""} ${text}` : text);
    }
  }
  return out;
}

/** The blocks without the section headed `title`: its heading and everything up to the next
 * heading of the same or a higher level. */
export function withoutSection(blocks: readonly Block[], title: string): Block[] {
  const out: Block[] = [];
  let skipping: number | null = null;
  for (const block of blocks) {
    if (block.kind === "heading") {
      if (skipping !== null && block.level <= skipping) skipping = null;
      if (skipping === null && block.text.trim().toLowerCase() === title.toLowerCase()) {
        skipping = block.level;
        continue;
      }
    }
    if (skipping === null) out.push(block);
  }
  return out;
}

export function ReportBody({
  markdown,
  sources,
  skipTitle = false,
  firstLevel = 3,
  omitSection,
}: {
  markdown: string;
  sources: readonly CitedSource[];
  /** The page already shows the title as its heading. */
  skipTitle?: boolean;
  /** The level the report's top headings take on this page (below the page's own headings). */
  firstLevel?: number;
  /** A section the page shows its own way (the sources, as a list with passages and anchors). */
  omitSection?: string;
}) {
  const byNumber = new Map(sources.map((s) => [s.n, s]));
  let blocks = parseBlocks(markdown);
  if (skipTitle && blocks[0]?.kind === "heading" && blocks[0].level === 1) blocks = blocks.slice(1);
  if (omitSection !== undefined) blocks = withoutSection(blocks, omitSection);
  const top = Math.min(7, ...blocks.map((b) => (b.kind === "heading" ? b.level : 7)));
  // Every heading gets the anchor the report's own contents links to.
  const headings = blocks.filter((b) => b.kind === "heading");
  const slugs = headingSlugs(headings.map((h) => h.text));
  const anchors = new Map(headings.map((b, j) => [b, slugs[j]]));
  return (
    <div className="report">
      {blocks.map((block, i) => {
        const key = `b${i}`;
        switch (block.kind) {
          case "heading": {
            // Heading levels follow the page's outline with no level skipped.
            const level = Math.min(6, block.level - top + firstLevel);
            const Tag = `h${level}` as "h3";
            return (
              <Tag key={key} id={anchors.get(block)} tabIndex={-1}>
                {renderInline(block.text, byNumber, key)}
              </Tag>
            );
          }
          case "para":
            return <p key={key}>{renderInline(block.text, byNumber, key)}</p>;
          case "quote":
            return <blockquote key={key}>{renderInline(block.text, byNumber, key)}</blockquote>;
          case "code":
            return (
              <pre key={key}>
                <code>{block.text}</code>
              </pre>
            );
          case "table":
            return (
              <div key={key} className="table-wrap" role="region" aria-label="Table" tabIndex={0}>
                <table>
                  <thead>
                    <tr>
                      {block.header.map((h, j) => (
                        <th key={j} scope="col">
                          {renderInline(h, byNumber, `${key}-h${j}`)}
                        </th>
                      ))}
                    </tr>
                  </thead>
                  <tbody>
                    {block.rows.map((row, r) => (
                      <tr key={r}>
                        {row.map((c, j) => (
                          <td key={j}>{renderInline(c, byNumber, `${key}-${r}-${j}`)}</td>
                        ))}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            );
          case "list": {
            const items = block.items.map((item, j) => <li key={j}>{renderInline(item, byNumber, `${key}-${j}`)}</li>);
            return block.ordered ? <ol key={key}>{items}</ol> : <ul key={key}>{items}</ul>;
          }
        }
      })}
    </div>
  );
}

export function SourceList({
  sources,
  heading = "Sources",
  level = 2,
}: {
  sources: readonly CitedSource[];
  heading?: string;
  level?: 2 | 3;
}) {
  if (!sources.length) return null;
  const Heading = level === 2 ? "h2" : "h3";
  return (
    <section aria-labelledby="sources-heading" className="sources">
      <Heading id="sources-heading">{heading}</Heading>
      <ol>
        {sources.map((s) => {
          const href = s.url ? safeHref(s.url) : null;
          return (
            <li key={s.n} id={sourceAnchor(s.n)} value={s.n} tabIndex={-1}>
              {href ? (
                <a href={href} rel="noopener noreferrer nofollow">
                  {s.title}
                </a>
              ) : (
                <strong>{s.title}</strong>
              )}
              {s.location ? <span className="muted"> · {s.location}</span> : null}
              {s.passage ? <blockquote className="passage">{s.passage}</blockquote> : null}
            </li>
          );
        })}
      </ol>
    </section>
  );
}
