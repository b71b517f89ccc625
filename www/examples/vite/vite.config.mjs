// Builds the example with the SDK package in pkg/ as its "e2ee-sdk" dependency (an app would
// `npm install` it). No wasm plugin is needed: the package loads its .wasm with
// `new URL(..., import.meta.url)`, which Vite turns into an asset.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  resolve: { alias: { "e2ee-sdk": fileURLToPath(new URL("../../../pkg/index.js", import.meta.url)) } },
  build: { outDir: "dist", emptyOutDir: true, target: "es2022" },
  logLevel: "warn",
});
