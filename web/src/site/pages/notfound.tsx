// 404.html: what the gateway answers, with status 404, for a path that is no page.

import type { PageMeta } from "../layout";

export const notFoundMeta: PageMeta = {
  title: "Page not found",
  description: "There is no page at this address. Quarry's documentation, pricing and blog are linked from here.",
  path: "/404.html",
  section: "none",
  noindex: true,
};

export function NotFound() {
  return (
    <div className="wrap page narrow">
      <h1>Page not found</h1>
      <p className="lede">There is no page at this address. It may have moved, or the link may be mistyped.</p>
      <ul className="link-list">
        <li>
          <a href="/">Home</a>
        </li>
        <li>
          <a href="/docs">Documentation</a>
        </li>
        <li>
          <a href="/pricing">Pricing</a>
        </li>
        <li>
          <a href="/blog">Blog</a>
        </li>
      </ul>
    </div>
  );
}
