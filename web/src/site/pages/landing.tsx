// `/`: what Quarry does, how a run works, why its reports can be trusted.

import type { ReactNode } from "react";

import type { Content } from "../content";
import type { PageMeta } from "../layout";

export const landingMeta: PageMeta = {
  title: "deep research with every claim cited and checked",
  description:
    "Quarry turns a research question into a planned, policy-checked run that ends in a report where every claim cites the passage it stands on.",
  path: "/",
  section: "home",
};

const STEPS: { name: string; text: string }[] = [
  {
    name: "Plan",
    text: "The question is split into sub-questions, more of them the deeper you ask. With plan review the run pauses here, so you can edit, remove or add sub-questions before anything is searched.",
  },
  {
    name: "Search",
    text: "One search per sub-question over the shared corpus and your own datasets, and on paid plans the open web, fetched politely: robots.txt honoured, sizes capped, every host allowed by policy first.",
  },
  {
    name: "Cited synthesis",
    text: "The draft is written from numbered passages, each sentence citing the passages it rests on. A citation check then cuts every citation the passage does not back, and every claim left citing nothing.",
  },
  {
    name: "Approval",
    text: "When you ask for it, per run or for the whole workspace, the run waits before publishing for an owner or admin to approve or reject it with a comment, until a deadline you set.",
  },
  {
    name: "Report",
    text: "Markdown, PDF and Word, with numbered sources, the cited passages and a methods section. Ask follow-up questions about it and get answers that cite the run's findings.",
  },
];

const TRUST: { name: string; text: string }[] = [
  {
    name: "Every claim cited and checked",
    text: "A cited sentence stays only if its passage quotes it, or holds most of its content words, every number it states and the same negation. What fails is removed before the draft is accepted, and checked again before the report.",
  },
  {
    name: "Replayable runs",
    text: "A run is its event log. Its state at any earlier moment can be rebuilt from the log alone, any service can crash mid-run and the run resumes where it was, and its stream reconnects without losing or repeating an event.",
  },
  {
    name: "Per-tool policy",
    text: "Every search, page fetch, model call and publication is authorised by Cedar policies first: plan, role, rate limits, time boxes, allowed domains and budget. Each decision records the policies that made it.",
  },
  {
    name: "Exact credits",
    text: "A run reserves an upper bound when it starts and is settled against its metered usage when it ends; the rest is refunded, and a failure that is the platform's fault is refunded in full. Every entry is in your ledger.",
  },
];

const MORE: { slug: string; name: string; text: string }[] = [
  { slug: "datasets", name: "Datasets", text: "Upload PDF, HTML, Markdown or text and research over your own documents, each run reading only the datasets it names." },
  { slug: "monitors", name: "Monitors", text: "Ask the same question on a schedule; each report says what changed since the previous run." },
  { slug: "templates", name: "Templates", text: "Save a way of researching: depth, sources, length, outline and tone, versioned." },
  { slug: "api", name: "REST and SSE API", text: "Everything the workspace does is the public API, with tokens or API keys for your programs." },
];

interface Item {
  name: string;
  text: string;
  /** Where the item's name links to, if anywhere. */
  href?: string;
}

/** A band of the page: a heading over its content, on a soft background when `soft`. */
function Band({ id, title, soft = false, children }: { id: string; title: string; soft?: boolean; children: ReactNode }) {
  return (
    <section className={soft ? "band band-soft" : "band"} aria-labelledby={id}>
      <div className="wrap">
        <h2 id={id}>{title}</h2>
        {children}
      </div>
    </section>
  );
}

/** Named items with a line of text each: numbered steps when `ordered`, else cards. */
function Cards({ items, ordered = false }: { items: readonly Item[]; ordered?: boolean }) {
  const List = ordered ? "ol" : "ul";
  return (
    <List className={ordered ? "steps" : "cards"}>
      {items.map((item) => (
        <li key={item.name} className={ordered ? undefined : "card"}>
          <h3>{item.href ? <a href={item.href}>{item.name}</a> : item.name}</h3>
          <p>{item.text}</p>
        </li>
      ))}
    </List>
  );
}

/** Sign up, and a quieter second way on. */
function Actions({ second }: { second: { href: string; text: string } }) {
  return (
    <p className="actions">
      <a className="button button-large" href="/signup">
        Sign up
      </a>
      <a className="button button-large button-quiet" href={second.href}>
        {second.text}
      </a>
    </p>
  );
}

export function Landing({ content }: { content: Content }) {
  const docs = new Set(content.docs.map((doc) => doc.slug));
  return (
    <>
      <section className="hero" aria-labelledby="hero-title">
        <div className="wrap">
          <h1 id="hero-title">Research questions in, cited reports out</h1>
          <p className="lede">
            Quarry plans a research question, searches your documents and the web, and writes a report in which every claim cites
            the passage it stands on, checked before you read it. Every step is authorised, recorded and metered to the credit.
          </p>
          <Actions second={{ href: "/docs", text: "Read the docs" }} />
        </div>
      </section>
      <Band id="how-title" title="How a run works">
        <Cards items={STEPS} ordered />
      </Band>
      <Band id="trust-title" title="Why you can trust the report" soft>
        <Cards items={TRUST} />
      </Band>
      <Band id="more-title" title="Research that keeps working">
        <Cards items={MORE.map((item) => ({ ...item, href: docs.has(item.slug) ? `/docs/${item.slug}` : undefined }))} />
        <Actions second={{ href: "/pricing", text: "See pricing" }} />
      </Band>
    </>
  );
}
