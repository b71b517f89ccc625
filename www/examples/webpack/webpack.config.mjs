// Builds the example with the SDK package in pkg/ as its "e2ee-sdk" dependency (an app would
// `npm install` it). webpack 5 emits the package's .wasm as an asset from its
// `new URL(..., import.meta.url)`, and supports the app's top-level await.
import { fileURLToPath } from "node:url";

export default {
  mode: "production",
  context: fileURLToPath(new URL(".", import.meta.url)),
  entry: "../app.js",
  output: { path: fileURLToPath(new URL("dist/", import.meta.url)), publicPath: "auto", clean: true },
  resolve: { alias: { "e2ee-sdk": fileURLToPath(new URL("../../../pkg/index.js", import.meta.url)) } },
  performance: { hints: false },
};
