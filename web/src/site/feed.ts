// The blog's Atom feed (RFC 4287), /blog/feed.xml.

import { absolute } from "./config";
import type { Post } from "./content";
import { escapeXml } from "./escape";

export const FEED_PATH = "/blog/feed.xml";
export const FEED_TITLE = "The Quarry blog";
export const FEED_SUBTITLE = "How Quarry's research runs, citations and credits work, from the engineers who build it.";

/** A post's date as an Atom timestamp (posts carry a calendar date; midnight UTC). */
export function atomDate(date: string): string {
  return `${date}T00:00:00Z`;
}

/**
 * The feed for `posts` (newest first). `fallbackUpdated` is the feed's <updated> when there is
 * no post; otherwise it is the newest post's date, so an unchanged blog gives an unchanged feed.
 */
export function atomFeed(posts: Post[], origin: string, fallbackUpdated: Date): string {
  const newest = posts.reduce<string | null>((max, post) => (max === null || post.date > max ? post.date : max), null);
  const updated = newest === null ? `${fallbackUpdated.toISOString().slice(0, 19)}Z` : atomDate(newest);
  const entries = posts.map((post) => {
    const url = absolute(origin, `/blog/${post.slug}`);
    return [
      "  <entry>",
      `    <title>${escapeXml(post.title)}</title>`,
      `    <id>${escapeXml(url)}</id>`,
      `    <link rel="alternate" type="text/html" href="${escapeXml(url)}"/>`,
      `    <published>${atomDate(post.date)}</published>`,
      `    <updated>${atomDate(post.date)}</updated>`,
      `    <author><name>${escapeXml(post.author)}</name></author>`,
      `    <summary>${escapeXml(post.description)}</summary>`,
      `    <content type="html">${escapeXml(post.body.html)}</content>`,
      "  </entry>",
    ].join("\n");
  });
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    `<feed xmlns="http://www.w3.org/2005/Atom" xml:base="${escapeXml(`${origin}/`)}">`,
    `  <title>${escapeXml(FEED_TITLE)}</title>`,
    `  <subtitle>${escapeXml(FEED_SUBTITLE)}</subtitle>`,
    `  <id>${escapeXml(absolute(origin, "/blog"))}</id>`,
    `  <link rel="alternate" type="text/html" href="${escapeXml(absolute(origin, "/blog"))}"/>`,
    `  <link rel="self" type="application/atom+xml" href="${escapeXml(absolute(origin, FEED_PATH))}"/>`,
    `  <updated>${updated}</updated>`,
    ...entries,
    "</feed>",
    "",
  ].join("\n");
}
