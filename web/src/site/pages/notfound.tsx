// 404.html: what the gateway answers, with status 404, for a path that is no page.

import { LinkList, type PageMeta, type SiteLink } from "../layout";

export const notFoundMeta: PageMeta = {
  title: "Page not found",
  description: "There is no page at this address. Quarry's documentation, pricing and blog are linked from here.",
  path: "/404.html",
  section: "none",
  noindex: true,
};

const WAYS_ON: SiteLink[] = [
  { href: "/", label: "Home" },
  { href: "/docs", label: "Documentation" },
  { href: "/pricing", label: "Pricing" },
  { href: "/blog", label: "Blog" },
];

export function NotFound() {
  return (
    <div className="wrap page narrow">
      <h1>Page not found</h1>
      <p className="lede">There is no page at this address. It may have moved, or the link may be mistyped.</p>
      <LinkList links={WAYS_ON} className="link-list" />
    </div>
  );
}
