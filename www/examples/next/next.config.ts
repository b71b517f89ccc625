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
    resolveAlias: { "e2ee-sdk": "../../../pkg" },
  },
  // The tests open the dev server at 127.0.0.1.
  allowedDevOrigins: ["127.0.0.1"],
};

export default config;
