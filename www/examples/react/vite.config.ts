// A Vite + React app with the SDK package in pkg/ as its "e2ee-sdk" dependency (an app would
// `npm install` it instead of aliasing). No wasm plugin is needed: the package loads its .wasm
// with `new URL(..., import.meta.url)`, which Vite serves in dev and emits as an asset.
import react from "@vitejs/plugin-react";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

/** The repository root; the package is its pkg/ directory. */
const repo = fileURLToPath(new URL("../../../", import.meta.url));

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  plugins: [react()],
  // The package's directory: its package.json names the entry.
  resolve: { alias: { "e2ee-sdk": `${repo}pkg` } },
  // The dev server serves the package from outside this app's directory.
  server: { fs: { allow: [repo] } },
  build: { outDir: "dist", emptyOutDir: true, target: "es2022" },
  logLevel: "warn",
});
