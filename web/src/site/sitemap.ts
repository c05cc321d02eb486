// /sitemap.xml (sitemaps.org 0.9) and /robots.txt.

import { absolute } from "./config";
import { escapeXml } from "./escape";

export interface SitemapEntry {
  path: string;
  lastmod?: string; // YYYY-MM-DD
}

export function sitemap(entries: SitemapEntry[], origin: string): string {
  const urls = entries.map((entry) => {
    const lastmod = entry.lastmod === undefined ? "" : `<lastmod>${escapeXml(entry.lastmod)}</lastmod>`;
    return `  <url><loc>${escapeXml(absolute(origin, entry.path))}</loc>${lastmod}</url>`;
  });
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">',
    ...urls,
    "</urlset>",
    "",
  ].join("\n");
}

// The workspace and the API are no crawler's business; a shared report is private to whoever
// holds its link.
export const PRIVATE_PATHS = [
  "/app/",
  "/api/",
  "/v1/",
  "/share/",
  "/login",
  "/signup",
  "/research",
  "/billing",
  "/datasets",
  "/templates",
  "/monitors",
  "/settings",
];

export function robots(origin: string): string {
  return ["User-agent: *", "Allow: /", ...PRIVATE_PATHS.map((path) => `Disallow: ${path}`), "", `Sitemap: ${absolute(origin, "/sitemap.xml")}`, ""].join(
    "\n",
  );
}
