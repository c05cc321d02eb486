// The front-matter block of web/content/**/*.md: a small, strict subset of YAML (one `key: value`
// a line, plain or quoted scalars, `#` comments). Anything else fails the build with the file
// and line, because a page with a wrong title or description is worse than no build.

export const DOC_SECTIONS = ["Guides", "Concepts", "API", "Operations"] as const;
export type DocSection = (typeof DOC_SECTIONS)[number];

export interface DocMeta {
  title: string;
  description: string;
  order: number;
  section: DocSection;
}

export interface PostMeta {
  title: string;
  description: string;
  date: string; // ISO calendar date, YYYY-MM-DD
  author: string;
}

export class FrontMatterError extends Error {
  override name = "FrontMatterError";
}

export interface Parsed {
  fields: Map<string, string>;
  body: string;
}

const KEY = /^([A-Za-z_][A-Za-z0-9_-]*):(?:\s+(.*))?$/;
const DESCRIPTION_MIN = 50;
const DESCRIPTION_MAX = 160;
const TITLE_MAX = 100;
const AUTHOR_MAX = 100;

function scalar(raw: string, where: string): string {
  const text = raw.trim();
  if (text.startsWith('"')) {
    const end = closingQuote(text, '"');
    if (end < 0) throw new FrontMatterError(`${where}: unterminated double-quoted value`);
    rejectTrailing(text.slice(end + 1), where);
    try {
      return JSON.parse(text.slice(0, end + 1)) as string;
    } catch {
      throw new FrontMatterError(`${where}: bad escape in double-quoted value`);
    }
  }
  if (text.startsWith("'")) {
    const end = closingQuote(text, "'");
    if (end < 0) throw new FrontMatterError(`${where}: unterminated single-quoted value`);
    rejectTrailing(text.slice(end + 1), where);
    return text.slice(1, end).replace(/''/g, "'");
  }
  // As in YAML, " #" starts a comment in a plain value.
  const comment = text.search(/\s#/);
  return (comment < 0 ? text : text.slice(0, comment)).trim();
}

function closingQuote(text: string, quote: string): number {
  for (let i = 1; i < text.length; i++) {
    const ch = text[i];
    if (quote === '"' && ch === "\\") {
      i++;
      continue;
    }
    if (ch === quote) {
      if (quote === "'" && text[i + 1] === "'") {
        i++;
        continue;
      }
      return i;
    }
  }
  return -1;
}

function rejectTrailing(rest: string, where: string): void {
  const tail = rest.trim();
  if (tail !== "" && !tail.startsWith("#")) {
    throw new FrontMatterError(`${where}: unexpected text after the quoted value: ${JSON.stringify(tail)}`);
  }
}

/** Split a Markdown file into its front-matter fields and its body. */
export function parseFrontMatter(source: string, file: string): Parsed {
  const lines = source.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n").split("\n");
  if (lines[0]?.trim() !== "---") {
    throw new FrontMatterError(`${file}: must start with a front-matter block ('---' on the first line)`);
  }
  const end = lines.findIndex((line, i) => i > 0 && line.trim() === "---");
  if (end < 0) throw new FrontMatterError(`${file}: the front-matter block is not closed by a '---' line`);
  const fields = new Map<string, string>();
  for (let i = 1; i < end; i++) {
    const line = lines[i] ?? "";
    const where = `${file}:${i + 1}`;
    if (line.trim() === "" || line.trimStart().startsWith("#")) continue;
    if (/^\s/.test(line)) throw new FrontMatterError(`${where}: indented lines (nested values) are not supported`);
    const match = KEY.exec(line);
    if (match === null) throw new FrontMatterError(`${where}: expected 'key: value', got ${JSON.stringify(line)}`);
    const key = match[1] ?? "";
    if (fields.has(key)) throw new FrontMatterError(`${where}: key '${key}' appears twice`);
    fields.set(key, scalar(match[2] ?? "", where));
  }
  return { fields, body: lines.slice(end + 1).join("\n") };
}

function checkKeys(fields: Map<string, string>, wanted: readonly string[], file: string): void {
  const unknown = [...fields.keys()].filter((key) => !wanted.includes(key));
  if (unknown.length > 0) {
    throw new FrontMatterError(`${file}: unknown front-matter key(s) ${unknown.join(", ")} (allowed: ${wanted.join(", ")})`);
  }
  const missing = wanted.filter((key) => (fields.get(key) ?? "") === "");
  if (missing.length > 0) {
    throw new FrontMatterError(`${file}: missing front-matter key(s) ${missing.join(", ")}`);
  }
}

function text(fields: Map<string, string>, key: string, max: number, file: string): string {
  const value = (fields.get(key) ?? "").replace(/\s+/g, " ").trim();
  if (value.length > max) throw new FrontMatterError(`${file}: ${key} is ${value.length} characters, at most ${max}`);
  return value;
}

function description(fields: Map<string, string>, file: string): string {
  const value = text(fields, "description", DESCRIPTION_MAX, file);
  if (value.length < DESCRIPTION_MIN) {
    throw new FrontMatterError(
      `${file}: description is ${value.length} characters, it must be ${DESCRIPTION_MIN}-${DESCRIPTION_MAX} (it is the page's meta description)`,
    );
  }
  return value;
}

export function docMeta(fields: Map<string, string>, file: string): DocMeta {
  checkKeys(fields, ["title", "description", "order", "section"], file);
  const order = fields.get("order") ?? "";
  if (!/^\d{1,4}$/.test(order)) throw new FrontMatterError(`${file}: order must be a whole number, not ${JSON.stringify(order)}`);
  const section = fields.get("section") ?? "";
  if (!(DOC_SECTIONS as readonly string[]).includes(section)) {
    throw new FrontMatterError(`${file}: section must be one of ${DOC_SECTIONS.join(", ")}, not ${JSON.stringify(section)}`);
  }
  return {
    title: text(fields, "title", TITLE_MAX, file),
    description: description(fields, file),
    order: Number(order),
    section: section as DocSection,
  };
}

export function postMeta(fields: Map<string, string>, file: string): PostMeta {
  checkKeys(fields, ["title", "description", "date", "author"], file);
  const date = fields.get("date") ?? "";
  if (!isCalendarDate(date)) throw new FrontMatterError(`${file}: date must be an ISO date like 2026-11-20, not ${JSON.stringify(date)}`);
  return {
    title: text(fields, "title", TITLE_MAX, file),
    description: description(fields, file),
    date,
    author: text(fields, "author", AUTHOR_MAX, file),
  };
}

function isCalendarDate(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const parsed = new Date(`${value}T00:00:00Z`);
  return !Number.isNaN(parsed.getTime()) && parsed.toISOString().slice(0, 10) === value;
}
