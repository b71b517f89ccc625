// Server-side rendering: importing the package in Node (no window, no IndexedDB) does not
// throw, and using it there fails with a clear, coded error: `init()`, `Client.create` (which
// loads the wasm itself) and `version()` each give `UNSUPPORTED`, an `SdkError`.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

const pkg = new URL("../../pkg/", import.meta.url);
const manifest = JSON.parse(readFileSync(new URL("package.json", pkg), "utf8"));
const signer = { getAddress: async () => "0x0000000000000000000000000000000000000001", signMessage: async () => "0x" };

const unsupported = (sdk) => (err) => {
  assert.ok(err instanceof sdk.SdkError, "an SdkError");
  assert.ok(sdk.isSdkError(err, "UNSUPPORTED"));
  assert.equal(err.code, "UNSUPPORTED");
  assert.match(err.message, /runs in a browser: `indexedDB` is missing here \(server-side rendering\?\)/);
  assert.match(err.message, /useEffect/);
  return true;
};

test("the package imports without a window and refuses to run there", async () => {
  assert.equal(typeof globalThis.window, "undefined");
  const sdk = await import(new URL(manifest.main, pkg).href);
  assert.equal(typeof sdk.Client, "function");
  await assert.rejects(sdk.default(), unsupported(sdk));
  await assert.rejects(sdk.Client.create({ signer, nodeUrl: "http://127.0.0.1:9", dbName: "ssr" }), unsupported(sdk));
  await assert.rejects(sdk.Client.deleteLocalData("ssr"), unsupported(sdk));
  assert.throws(() => sdk.version(), unsupported(sdk));
  assert.throws(() => sdk.initSync(readFileSync(new URL("e2ee_sdk_bg.wasm", pkg))), unsupported(sdk));
  // Other errors are not the SDK's.
  assert.equal(sdk.isSdkError(new Error("x")), false);
  assert.equal(sdk.isSdkError({ name: "SdkError", code: "UNSUPPORTED" }), false);
});
