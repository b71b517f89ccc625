// A Next.js app with the SDK package in pkg/ as its "e2ee-sdk" dependency (an app would
// `npm install` it instead of aliasing). Turbopack emits the package's .wasm as an asset from
// its `new URL(..., import.meta.url)`; no wasm setting is needed.
import type { NextConfig } from "next";
import { fileURLToPath } from "node:url";

/** The repository root: the package (pkg/) and node_modules live there. */
const repo = fileURLToPath(new URL("../../../", import.meta.url));

const config: NextConfig = {
  turbopack: {
    root: repo,
    // Relative to this directory: the package's directory, its package.json names the entry.
    resolveAlias: { "e2ee-sdk": "../../../pkg" },
  },
};

export default config;
