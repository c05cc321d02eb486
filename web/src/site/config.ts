// Where the public site lives, for canonical URLs, Open Graph, the feed and the sitemap.

export const DEFAULT_ORIGIN = "http://127.0.0.1:8000";

/** The site's origin from `QUARRY_PUBLIC_URL`: an http(s) URL with no path, query or fragment. */
export function siteOrigin(raw: string | undefined): string {
  const value = (raw ?? "").trim();
  if (value === "") return DEFAULT_ORIGIN;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`QUARRY_PUBLIC_URL is not a URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`QUARRY_PUBLIC_URL must be http or https, not ${url.protocol}`);
  }
  if ((url.pathname !== "/" && url.pathname !== "") || url.search !== "" || url.hash !== "" || url.username !== "") {
    throw new Error(`QUARRY_PUBLIC_URL must be an origin only (like https://quarry.example), not ${JSON.stringify(value)}`);
  }
  return url.origin;
}

/** The absolute URL of a site path ("/docs/runs" -> "https://quarry.example/docs/runs"). */
export function absolute(origin: string, path: string): string {
  return `${origin}${path.startsWith("/") ? path : `/${path}`}`;
}
