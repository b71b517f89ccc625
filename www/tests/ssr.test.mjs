// Server-side rendering: importing the package in Node (no window, no IndexedDB) does not
// throw, and using it there fails with a clear, coded error.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

const pkg = new URL("../../pkg/", import.meta.url);

test("the package imports without a window and refuses to run there", async () => {
  assert.equal(typeof globalThis.window, "undefined");
  const sdk = await import(new URL("e2ee_sdk.js", pkg).href);
  assert.equal(typeof sdk.Client, "function");
  await sdk.default({ module_or_path: readFileSync(new URL("e2ee_sdk_bg.wasm", pkg)) });
  const signer = { getAddress: async () => "0x0000000000000000000000000000000000000001", signMessage: async () => "0x" };
  await assert.rejects(
    sdk.Client.create({ signer, nodeUrl: "http://127.0.0.1:9", dbName: "ssr" }),
    (err) => {
      assert.equal(err.code, "UNSUPPORTED");
      assert.match(err.message, /runs in a browser: `indexedDB` is missing/);
      return true;
    },
  );
});
