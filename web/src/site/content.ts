// web/content/{docs,blog}/*.md -> documents with checked metadata and rendered bodies. Files
// whose names start with `_` (samples, drafts) or `.` are not published.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { DOC_SECTIONS, type DocMeta, FrontMatterError, type PostMeta, docMeta, parseFrontMatter, postMeta } from "./frontmatter";
import { type Rendered, renderMarkdown } from "./markdown";

export interface Doc extends DocMeta {
  slug: string;
  file: string;
  body: Rendered;
}

export interface Post extends PostMeta {
  slug: string;
  file: string;
  body: Rendered;
}

export interface Content {
  docs: Doc[]; // in navigation order: by section, then order, then title
  posts: Post[]; // newest first
}

export class ContentError extends Error {
  override name = "ContentError";
}

const SLUG = /^[a-z0-9][a-z0-9-]*$/;

/** The Markdown files of a folder that are published, as [slug, path]. */
function published(dir: string): [string, string][] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith(".md") && !name.startsWith("_") && !name.startsWith("."))
    .sort()
    .map((name) => [name.slice(0, -".md".length), join(dir, name)]);
}

export function sortDocs(docs: Doc[]): Doc[] {
  return [...docs].sort(
    (a, b) =>
      DOC_SECTIONS.indexOf(a.section) - DOC_SECTIONS.indexOf(b.section) ||
      a.order - b.order ||
      a.title.localeCompare(b.title),
  );
}

export function sortPosts(posts: Post[]): Post[] {
  return [...posts].sort((a, b) => b.date.localeCompare(a.date) || a.title.localeCompare(b.title));
}

/** Read and check every published file; all problems are reported at once. */
export function loadContent(root: string): Content {
  const problems: string[] = [];
  const docs: Doc[] = [];
  const posts: Post[] = [];
  const each = (dir: string, take: (slug: string, file: string, source: string) => void): void => {
    for (const [slug, file] of published(join(root, dir))) {
      try {
        if (!SLUG.test(slug)) throw new FrontMatterError(`${file}: file name must be a slug (a-z, 0-9, '-')`);
        if (slug === "index") throw new FrontMatterError(`${file}: the ${dir} index page is generated; rename or remove this file`);
        take(slug, file, readFileSync(file, "utf8"));
      } catch (error) {
        if (!(error instanceof FrontMatterError)) throw error;
        problems.push(error.message);
      }
    }
  };
  each("docs", (slug, file, source) => {
    const { fields, body } = parseFrontMatter(source, file);
    docs.push({ ...docMeta(fields, file), slug, file, body: renderMarkdown(body) });
  });
  each("blog", (slug, file, source) => {
    const { fields, body } = parseFrontMatter(source, file);
    posts.push({ ...postMeta(fields, file), slug, file, body: renderMarkdown(body) });
  });
  if (problems.length > 0) {
    throw new ContentError(`web/content has ${problems.length} problem(s):\n  ${problems.join("\n  ")}`);
  }
  return { docs: sortDocs(docs), posts: sortPosts(posts) };
}
