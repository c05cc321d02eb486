import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { renderToStaticMarkup } from "react-dom/server";

// Run from web/ after the client build: writes the public pages as static HTML into dist/.
const dist = "dist";
const manifest = JSON.parse(readFileSync(join(dist, ".vite/manifest.json"), "utf8")) as Record<string, { file: string }>;
const stylesheet = `/${manifest["src/site/site.css"]?.file ?? ""}`;

function write(path: string, html: string): void {
  const file = join(dist, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, html);
}

const page = renderToStaticMarkup(
  <html lang="en">
    <head>
      <meta charSet="utf-8" />
      <title>Quarry</title>
      <link rel="stylesheet" href={stylesheet} />
    </head>
    <body>
      <main><h1>Quarry</h1></main>
    </body>
  </html>,
);
write("index.html", `<!doctype html>${page}`);
