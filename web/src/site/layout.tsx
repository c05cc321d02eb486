// The frame of every public page: head metadata (title, description, canonical URL, Open Graph),
// a skip link, header with the site navigation, main, footer. No script.

import type { ReactNode } from "react";

import { absolute } from "./config";
import { jsonForScript } from "./escape";
import { FEED_PATH, FEED_TITLE } from "./feed";

export const SITE_NAME = "Quarry";

export type Section = "home" | "pricing" | "docs" | "blog" | "none";

export interface PageMeta {
  /** The page's own title; the document title adds the site name. */
  title: string;
  description: string;
  /** The page's path on the site ("/", "/docs/runs"); canonical and og:url are built from it. */
  path: string;
  section: Section;
  ogType?: "website" | "article";
  /** Structured data (schema.org), emitted as a JSON-LD data block. */
  jsonLd?: Record<string, unknown>;
  /** Pages that are not canonical content (the 404 page) say so to crawlers. */
  noindex?: boolean;
}

export interface SiteContext {
  origin: string;
  stylesheet: string;
}

export function documentTitle(meta: PageMeta): string {
  return meta.section === "home" ? `${SITE_NAME}: ${meta.title}` : `${meta.title} · ${SITE_NAME}`;
}

const NAV: { href: string; label: string; section: Section }[] = [
  { href: "/pricing", label: "Pricing", section: "pricing" },
  { href: "/docs", label: "Docs", section: "docs" },
  { href: "/blog", label: "Blog", section: "blog" },
];

export interface SiteLink {
  href: string;
  label: string;
}

const FOOTER_LINKS: SiteLink[] = [
  { href: "/docs", label: "Documentation" },
  { href: "/api/docs", label: "API reference" },
  { href: "/pricing", label: "Pricing" },
  { href: "/blog", label: "Blog" },
  { href: FEED_PATH, label: "Atom feed" },
];

/** A plain list of links (the footer's, the 404 page's). */
export function LinkList({ links, className }: { links: readonly SiteLink[]; className?: string }) {
  return (
    <ul className={className}>
      {links.map((link) => (
        <li key={link.href}>
          <a href={link.href}>{link.label}</a>
        </li>
      ))}
    </ul>
  );
}

// The favicon's mark, inline: no request, and no image preload React would add for an <img>.
function Logo() {
  return (
    <svg viewBox="0 0 32 32" width="28" height="28" aria-hidden="true" focusable="false">
      <rect width="32" height="32" rx="6" fill="#1f3a5f" />
      <path d="M8 22 L16 8 L24 22 Z" fill="none" stroke="#f2c14e" strokeWidth="3" strokeLinejoin="round" />
    </svg>
  );
}

export function Layout({ meta, site, children }: { meta: PageMeta; site: SiteContext; children: ReactNode }) {
  const url = absolute(site.origin, meta.path);
  const title = documentTitle(meta);
  return (
    <html lang="en">
      <head>
        <meta charSet="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{title}</title>
        <meta name="description" content={meta.description} />
        {meta.noindex === true ? <meta name="robots" content="noindex" /> : <link rel="canonical" href={url} />}
        <meta property="og:site_name" content={SITE_NAME} />
        <meta property="og:type" content={meta.ogType ?? "website"} />
        <meta property="og:title" content={title} />
        <meta property="og:description" content={meta.description} />
        <meta property="og:url" content={url} />
        <meta property="og:locale" content="en_US" />
        <meta name="twitter:card" content="summary" />
        <meta name="theme-color" content="#1f3a5f" />
        <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
        <link rel="alternate" type="application/atom+xml" title={FEED_TITLE} href={FEED_PATH} />
        <link rel="stylesheet" href={site.stylesheet} />
        {meta.jsonLd === undefined ? null : (
          <script type="application/ld+json" dangerouslySetInnerHTML={{ __html: jsonForScript(meta.jsonLd) }} />
        )}
      </head>
      <body>
        <a className="skip-link" href="#main">
          Skip to content
        </a>
        <header className="site-header">
          <div className="wrap header-row">
            <a className="brand" href="/" aria-current={meta.section === "home" ? "page" : undefined}>
              <Logo />
              <span>{SITE_NAME}</span>
            </a>
            <nav aria-label="Main" className="main-nav">
              <ul>
                {NAV.map((item) => (
                  <li key={item.href}>
                    <a href={item.href} aria-current={item.section === meta.section ? "page" : undefined}>
                      {item.label}
                    </a>
                  </li>
                ))}
                <li>
                  <a href="/login">Log in</a>
                </li>
                <li>
                  <a className="button" href="/signup">
                    Sign up
                  </a>
                </li>
              </ul>
            </nav>
          </div>
        </header>
        <main id="main" tabIndex={-1}>
          {children}
        </main>
        <footer className="site-footer">
          <div className="wrap footer-row">
            <nav aria-label="Footer">
              <LinkList links={FOOTER_LINKS} />
            </nav>
            <p>Quarry: deep research with every claim cited.</p>
          </div>
        </footer>
      </body>
    </html>
  );
}
