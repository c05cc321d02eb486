import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// The client build is the workspace app (app/index.html) plus the public site's stylesheet; the
// public pages themselves are rendered to static HTML by src/site/prerender.tsx afterwards,
// reading .vite/manifest.json to link the hashed stylesheet.
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    manifest: true,
    rollupOptions: {
      input: {
        app: "app/index.html",
        site: "src/site/site.css",
      },
    },
  },
  server: {
    // `npm run dev` against a running stack (`make up`): the API stays same-origin.
    proxy: { "/v1": "http://127.0.0.1:8000", "/api": "http://127.0.0.1:8000" },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/app/testing/setup.ts"],
    // Generous for the same reason as the setup's waits; a passing test takes what it takes.
    testTimeout: 20_000,
  },
});
