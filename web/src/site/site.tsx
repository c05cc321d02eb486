// Every file of the public site, rendered in memory: pages as static HTML, the feed, the sitemap,
// robots.txt. prerender.tsx writes them to dist/; the tests read them here.

import type { ReactNode } from "react";
import { renderToStaticMarkup } from "react-dom/server";

import type { Content } from "./content";
import { FEED_PATH, atomFeed } from "./feed";
import { Layout, type PageMeta, type SiteContext, documentTitle } from "./layout";
import { BlogIndex, BlogPost, blogIndexMeta, postMeta } from "./pages/blog";
import { DocPage, DocsIndex, docMeta, docsIndexMeta } from "./pages/docs";
import { Landing, landingMeta } from "./pages/landing";
import { NotFound, notFoundMeta } from "./pages/notfound";
import { Pricing, pricingMeta } from "./pages/pricing";
import type { Plans } from "./plans";
import { PRIVATE_PATHS, type SitemapEntry, robots, sitemap } from "./sitemap";

export interface SiteInput extends SiteContext {
  content: Content;
  plans: Plans;
  /** The feed's <updated> when the blog has no post. */
  now: Date;
}

export interface Page {
  meta: PageMeta;
  file: string; // relative to dist/
  html: string;
  lastmod?: string;
}

export interface SiteFile {
  file: string;
  body: string;
}

export interface Site {
  pages: Page[];
  files: SiteFile[]; // every page's HTML plus the feed, the sitemap and robots.txt
}

export class SiteError extends Error {
  override name = "SiteError";
}

function fileFor(path: string): string {
  return path === "/" ? "index.html" : `${path.slice(1)}/index.html`;
}

function render(meta: PageMeta, site: SiteContext, body: ReactNode): string {
  return `<!doctype html>\n${renderToStaticMarkup(
    <Layout meta={meta} site={site}>
      {body}
    </Layout>,
  )}\n`;
}

/** Titles and descriptions are what a search result shows: no two pages may share one. */
export function checkUnique(pages: Page[]): void {
  const problems: string[] = [];
  for (const [what, key] of [
    ["title", (page: Page) => documentTitle(page.meta)],
    ["description", (page: Page) => page.meta.description],
  ] as const) {
    const seen = new Map<string, string>();
    for (const page of pages) {
      const value = key(page);
      const other = seen.get(value);
      if (other !== undefined) problems.push(`${page.meta.path} has the same ${what} as ${other}: ${JSON.stringify(value)}`);
      else seen.set(value, page.meta.path);
    }
  }
  if (problems.length > 0) throw new SiteError(`pages must have unique titles and descriptions:\n  ${problems.join("\n  ")}`);
}

const HREF = /\shref="([^"]*)"/g;

function decode(attr: string): string {
  return attr.replace(/&amp;/g, "&").replace(/&quot;/g, '"').replace(/&#x27;|&#39;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">");
}

/**
 * Every same-site link of every page must reach a page (and, for a `#fragment`, a heading or
 * element id on it), or be a workspace or API path the gateway serves.
 */
export function checkLinks(pages: Page[], files: SiteFile[]): void {
  const ids = new Map<string, Set<string>>();
  for (const page of pages) ids.set(page.meta.path, new Set([...page.html.matchAll(/\sid="([^"]*)"/g)].map((m) => decode(m[1] ?? ""))));
  const served = new Set(["/favicon.svg", ...files.map((f) => `/${f.file}`)]);
  const problems: string[] = [];
  for (const page of pages) {
    for (const match of page.html.matchAll(HREF)) {
      const href = decode(match[1] ?? "");
      if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith("//")) continue; // another site, mailto:
      const [pathPart = "", fragment] = href.split("#", 2);
      const path = pathPart === "" ? page.meta.path : pathPart.split("?")[0] ?? "";
      if (!path.startsWith("/")) {
        problems.push(`${page.meta.path}: relative link ${JSON.stringify(href)} (write it from the site root, like /docs/runs)`);
        continue;
      }
      const target = path.length > 1 ? path.replace(/\/$/, "") : path;
      if (ids.has(target)) {
        if (fragment !== undefined && fragment !== "" && !(ids.get(target)?.has(fragment) ?? false)) {
          problems.push(`${page.meta.path}: link ${JSON.stringify(href)}: ${target} has no heading or element with id "${fragment}"`);
        }
        continue;
      }
      if (served.has(target) || target.startsWith("/assets/")) continue;
      if (PRIVATE_PATHS.some((prefix) => target === prefix.replace(/\/$/, "") || target.startsWith(prefix.endsWith("/") ? prefix : `${prefix}/`))) continue;
      problems.push(`${page.meta.path}: link ${JSON.stringify(href)} reaches no page`);
    }
  }
  if (problems.length > 0) throw new SiteError(`broken links:\n  ${problems.join("\n  ")}`);
}

export function buildSite(input: SiteInput): Site {
  const site: SiteContext = { origin: input.origin, stylesheet: input.stylesheet };
  const { content } = input;
  const pages: Page[] = [];
  const add = (meta: PageMeta, body: ReactNode, file = fileFor(meta.path), lastmod?: string): void => {
    pages.push({ meta, file, html: render(meta, site, body), ...(lastmod === undefined ? {} : { lastmod }) });
  };
  add(landingMeta, <Landing content={content} />);
  add(pricingMeta, <Pricing plans={input.plans} />);
  add(docsIndexMeta, <DocsIndex content={content} />);
  for (const doc of content.docs) add(docMeta(doc), <DocPage doc={doc} content={content} />);
  add(blogIndexMeta, <BlogIndex content={content} />, undefined, content.posts[0]?.date);
  for (const post of content.posts) add(postMeta(post, input.origin), <BlogPost post={post} />, undefined, post.date);
  add(notFoundMeta, <NotFound />, "404.html");

  checkUnique(pages);
  const listed: SitemapEntry[] = pages
    .filter((page) => page.meta.noindex !== true)
    .map((page) => (page.lastmod === undefined ? { path: page.meta.path } : { path: page.meta.path, lastmod: page.lastmod }));
  const files: SiteFile[] = [
    ...pages.map((page) => ({ file: page.file, body: page.html })),
    { file: FEED_PATH.slice(1), body: atomFeed(content.posts, input.origin, input.now) },
    { file: "sitemap.xml", body: sitemap(listed, input.origin) },
    { file: "robots.txt", body: robots(input.origin) },
  ];
  checkLinks(pages, files);
  return { pages, files };
}
