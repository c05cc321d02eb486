/* A report's Markdown rendered as React elements (never as HTML: the text comes from a model and
 * from web pages). Each citation [n] becomes a link to source n and its passage. */

import type { ReactNode } from "react";

import { ENTITIES, headingSlugs, parseBlocks, withoutSection } from "./lib/report-markdown";

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
