/* A report's Markdown as blocks, without React: the subset the reporter writes (headings,
 * paragraphs, lists, quotes, code, tables), the passages its Sources section quotes, and the
 * escapes undone. */

/** The entities the reporter writes, by name. */
export const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', "#39": "'" };

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
