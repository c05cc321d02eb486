// Markdown to HTML at build time (marked). The page's <h1> is the front-matter title, so a
// leading `# Title` in the body is dropped and any other level-1 heading becomes a level 2.
// Raw HTML in the Markdown is shown as text: content is words, not markup.

import { Marked, type Renderer, type Token, type Tokens } from "marked";

import { escapeXml } from "./escape";

export interface Heading {
  depth: number;
  text: string;
  id: string;
}

export interface Rendered {
  html: string;
  headings: Heading[];
}

/** A heading's anchor, as GitHub makes it: lower case, punctuation dropped, spaces to hyphens. */
export function slugify(text: string): string {
  return text
    .toLowerCase()
    .trim()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

function plain(tokens: Token[]): string {
  return tokens
    .map((token) => {
      if ("tokens" in token && Array.isArray(token.tokens)) return plain(token.tokens);
      return "text" in token && typeof token.text === "string" ? token.text : "";
    })
    .join("");
}

// Ids the page around the Markdown already uses (layout.tsx, pages/*.tsx): a heading named
// "Main" must not steal the skip link's target.
export const RESERVED_IDS = ["main", "page-title"];

export function renderMarkdown(source: string): Rendered {
  const headings: Heading[] = [];
  const used = new Map<string, number>(RESERVED_IDS.map((id) => [id, 1]));
  const marked = new Marked({ gfm: true });
  marked.use({
    renderer: {
      heading(this: Renderer, { tokens, depth }: Tokens.Heading): string {
        const level = Math.max(2, depth);
        const text = plain(tokens).trim();
        const base = slugify(text) || "section";
        const seen = used.get(base) ?? 0;
        used.set(base, seen + 1);
        const id = seen === 0 ? base : `${base}-${seen}`;
        headings.push({ depth: level, text, id });
        return `<h${level} id="${escapeXml(id)}">${this.parser.parseInline(tokens)}</h${level}>\n`;
      },
      code({ text, lang }: Tokens.Code): string {
        const language = (lang ?? "").match(/^[\w+-]+/)?.[0];
        const cls = language === undefined ? "" : ` class="language-${escapeXml(language)}"`;
        // Focusable so a keyboard can scroll a wide block (axe: scrollable-region-focusable).
        return `<pre tabindex="0"><code${cls}>${escapeXml(text.replace(/\n$/, ""))}</code></pre>\n`;
      },
      html({ text }: Tokens.HTML | Tokens.Tag): string {
        return escapeXml(text);
      },
    },
  });
  const tokens = marked.lexer(source.replace(/\r\n?/g, "\n"));
  const first = tokens.findIndex((token) => token.type !== "space");
  const lead = tokens[first];
  if (lead?.type === "heading" && (lead as Tokens.Heading).depth === 1) tokens.splice(first, 1);
  // Raw HTML is escaped above, so every <table> here is a Markdown table: framed so a wide one
  // scrolls by itself, focusable so a keyboard can scroll it (axe: scrollable-region-focusable).
  const html = marked
    .parser(tokens)
    .replace(/<table>/g, '<div class="table-wrap" tabindex="0"><table>')
    .replace(/<\/table>/g, "</table></div>");
  return { html, headings };
}
