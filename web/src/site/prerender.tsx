// Run from web/ after the client build (npm run build): writes the public site into dist/ as
// static files. Settings: QUARRY_PUBLIC_URL (the site's origin for canonical URLs, Open Graph,
// the feed and the sitemap). Inputs: content/ (Markdown) and src/generated/plans.json.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

import { siteOrigin } from "./config";
import { loadContent } from "./content";
import { parsePlans } from "./plans";
import { buildSite } from "./site";

const DIST = "dist";
const PLANS = "src/generated/plans.json";

function fail(message: string): never {
  process.stderr.write(`prerender: ${message}\n`);
  process.exit(1);
}

function main(): void {
  const manifestFile = join(DIST, ".vite/manifest.json");
  if (!existsSync(manifestFile)) fail(`${manifestFile} is missing: run the client build (vite build) first`);
  const manifest = JSON.parse(readFileSync(manifestFile, "utf8")) as Record<string, { file?: string } | undefined>;
  const css = manifest["src/site/site.css"]?.file;
  if (css === undefined) fail(`${manifestFile} has no entry for src/site/site.css`);
  if (!existsSync(PLANS)) {
    fail(`${PLANS} is missing: run \`python -m devtools.export_plans --out web/${PLANS}\` from the repo root (make web does)`);
  }
  const site = buildSite({
    origin: siteOrigin(process.env.QUARRY_PUBLIC_URL),
    stylesheet: `/${css}`,
    content: loadContent("content"),
    plans: parsePlans(JSON.parse(readFileSync(PLANS, "utf8"))),
    now: new Date(),
  });
  for (const { file, body } of site.files) {
    const path = join(DIST, file);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, body);
  }
  process.stdout.write(`prerender: wrote ${site.files.length} files (${site.pages.length} pages) to ${DIST}/\n`);
}

try {
  main();
} catch (error) {
  fail(error instanceof Error ? error.message : String(error));
}
