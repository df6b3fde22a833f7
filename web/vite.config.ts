import { defineConfig } from "vitest/config";

// The gateway serves index.html at / and every other built file below
// /console/ (hashed names under /console/assets/, cached for a year).
export default defineConfig({
  base: "/console/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // No inline script or style may be needed: the gateway's
    // Content-Security-Policy allows scripts from the console's own origin only.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 1500,
    reportCompressedSize: true,
  },
  server: {
    // `npm run dev` proxies the API to a running `landscape dev`.
    proxy: { "/v1": "http://127.0.0.1:8080" },
  },
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
  },
});
