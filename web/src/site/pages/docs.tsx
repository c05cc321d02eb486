// `/docs` (the index, by section) and `/docs/<slug>` (one page with the docs navigation).

import type { Content, Doc } from "../content";
import { DOC_SECTIONS } from "../frontmatter";
import type { PageMeta } from "../layout";

export const docsIndexMeta: PageMeta = {
  title: "Documentation",
  description: "Quarry's documentation: getting started, how runs, sources, approvals and credits work, the REST and SSE API, and self-hosting.",
  path: "/docs",
  section: "docs",
};

export function docMeta(doc: Doc): PageMeta {
  return { title: doc.title, description: doc.description, path: `/docs/${doc.slug}`, section: "docs" };
}

function bySection(docs: Doc[]): [string, Doc[]][] {
  return DOC_SECTIONS.map((section): [string, Doc[]] => [section, docs.filter((doc) => doc.section === section)]).filter(
    ([, list]) => list.length > 0,
  );
}

function DocsNav({ docs, current }: { docs: Doc[]; current?: string }) {
  return (
    <nav aria-label="Documentation" className="docs-nav">
      <p className="docs-nav-title">
        <a href="/docs" aria-current={current === undefined ? "page" : undefined}>
          Documentation
        </a>
      </p>
      {bySection(docs).map(([section, list]) => (
        <div key={section}>
          <p className="docs-nav-section">{section}</p>
          <ul>
            {list.map((doc) => (
              <li key={doc.slug}>
                <a href={`/docs/${doc.slug}`} aria-current={doc.slug === current ? "page" : undefined}>
                  {doc.title}
                </a>
              </li>
            ))}
          </ul>
        </div>
      ))}
      <p className="docs-nav-section">Reference</p>
      <ul>
        <li>
          <a href="/api/docs">Interactive API reference</a>
        </li>
      </ul>
    </nav>
  );
}

export function DocsIndex({ content }: { content: Content }) {
  return (
    <div className="wrap docs-layout">
      <DocsNav docs={content.docs} />
      <div className="docs-main">
        <h1>Documentation</h1>
        <p className="lede">
          How Quarry works and how to use it: from your first run to the API and running Quarry yourself. The interactive API
          reference, generated from the gateway's OpenAPI schema, is at <a href="/api/docs">/api/docs</a>.
        </p>
        {bySection(content.docs).map(([section, list]) => (
          <section key={section} aria-labelledby={`section-${section.toLowerCase()}`}>
            <h2 id={`section-${section.toLowerCase()}`}>{section}</h2>
            <ul className="link-list">
              {list.map((doc) => (
                <li key={doc.slug}>
                  <a href={`/docs/${doc.slug}`}>{doc.title}</a>
                  <p>{doc.description}</p>
                </li>
              ))}
            </ul>
          </section>
        ))}
      </div>
    </div>
  );
}

export function DocPage({ doc, content }: { doc: Doc; content: Content }) {
  const index = content.docs.findIndex((item) => item.slug === doc.slug);
  const previous = index > 0 ? content.docs[index - 1] : undefined;
  const next = content.docs[index + 1];
  const toc = doc.body.headings.filter((heading) => heading.depth === 2);
  return (
    <div className="wrap docs-layout">
      <DocsNav docs={content.docs} current={doc.slug} />
      <article className="docs-main prose" aria-labelledby="page-title">
        <p className="eyebrow">
          <a href="/docs">Docs</a> · {doc.section}
        </p>
        <h1 id="page-title">{doc.title}</h1>
        <p className="lede">{doc.description}</p>
        {toc.length >= 2 ? (
          <nav aria-label="On this page" className="toc">
            <p className="toc-title">On this page</p>
            <ul>
              {toc.map((heading) => (
                <li key={heading.id}>
                  <a href={`#${heading.id}`}>{heading.text}</a>
                </li>
              ))}
            </ul>
          </nav>
        ) : null}
        <div dangerouslySetInnerHTML={{ __html: doc.body.html }} />
        <nav aria-label="Previous and next" className="pager">
          {previous === undefined ? <span /> : <a href={`/docs/${previous.slug}`} rel="prev">Previous: {previous.title}</a>}
          {next === undefined ? <span /> : <a href={`/docs/${next.slug}`} rel="next">Next: {next.title}</a>}
        </nav>
      </article>
    </div>
  );
}
