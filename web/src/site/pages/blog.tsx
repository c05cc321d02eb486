// `/blog` (the index, newest first) and `/blog/<slug>` (one article, with BlogPosting data).

import { absolute } from "../config";
import type { Content, Post } from "../content";
import { FEED_PATH } from "../feed";
import { type PageMeta, SITE_NAME } from "../layout";

export const blogIndexMeta: PageMeta = {
  title: "Blog",
  description: "Engineering articles from the Quarry team: how citations are checked, how runs survive crashes, how credits are charged.",
  path: "/blog",
  section: "blog",
};

export function humanDate(date: string): string {
  return new Date(`${date}T00:00:00Z`).toLocaleDateString("en-GB", { timeZone: "UTC", day: "numeric", month: "long", year: "numeric" });
}

export function postMeta(post: Post, origin: string): PageMeta {
  const url = absolute(origin, `/blog/${post.slug}`);
  return {
    title: post.title,
    description: post.description,
    path: `/blog/${post.slug}`,
    section: "blog",
    ogType: "article",
    jsonLd: {
      "@context": "https://schema.org",
      "@type": "BlogPosting",
      headline: post.title,
      description: post.description,
      datePublished: post.date,
      dateModified: post.date,
      author: { "@type": "Person", name: post.author },
      publisher: { "@type": "Organization", name: SITE_NAME, url: absolute(origin, "/") },
      mainEntityOfPage: { "@type": "WebPage", "@id": url },
      url,
      inLanguage: "en",
    },
  };
}

function Byline({ post }: { post: Post }) {
  return (
    <p className="byline">
      <time dateTime={post.date}>{humanDate(post.date)}</time> · {post.author}
    </p>
  );
}

export function BlogIndex({ content }: { content: Content }) {
  return (
    <div className="wrap page narrow">
      <h1>Blog</h1>
      <p className="lede">
        How Quarry works inside, written by the people who build it. Follow it with the <a href={FEED_PATH}>Atom feed</a>.
      </p>
      {content.posts.length === 0 ? (
        <p>No articles yet.</p>
      ) : (
        <ul className="post-list">
          {content.posts.map((post) => (
            <li key={post.slug}>
              <article aria-labelledby={`post-${post.slug}`}>
                <h2 id={`post-${post.slug}`}>
                  <a href={`/blog/${post.slug}`}>{post.title}</a>
                </h2>
                <Byline post={post} />
                <p>{post.description}</p>
              </article>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function BlogPost({ post }: { post: Post }) {
  return (
    <article className="wrap page narrow prose" aria-labelledby="page-title">
      <p className="eyebrow">
        <a href="/blog">Blog</a>
      </p>
      <h1 id="page-title">{post.title}</h1>
      <Byline post={post} />
      <p className="lede">{post.description}</p>
      <div dangerouslySetInnerHTML={{ __html: post.body.html }} />
      <p className="after">
        <a href="/blog">More articles</a> · <a href={FEED_PATH}>Atom feed</a>
      </p>
    </article>
  );
}
