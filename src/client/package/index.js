// The package's entry point (pkg/index.js; the build copies it beside wasm-bindgen's glue,
// e2ee_sdk.js). It holds what must work before the wasm is loaded, or where it never can be
// (a server rendering the page): `init()` refusing outside a browser, `Client.create` and
// `Client.deleteLocalData` loading the wasm themselves, and `SdkError` to branch on.
import load, { Client, initSync as loadSync, version as wasmVersion } from "./e2ee_sdk.js";

export * from "./e2ee_sdk.js";

/** Every error the SDK throws: `err.code` says which kind (see `ErrorCode`). */
export class SdkError extends Error {
  constructor(code, message, options) {
    super(message, options);
    this.name = "SdkError";
    this.code = code;
  }

  // Errors made inside the wasm are `Error`s named "SdkError" with a code: they count too.
  static [Symbol.hasInstance](value) {
    return Error.prototype.isPrototypeOf(value) && value.name === "SdkError" && typeof value.code === "string";
  }
}

/** Whether `value` is an error from the SDK (with `code`, if given). */
export function isSdkError(value, code) {
  return value instanceof SdkError && (code === undefined || value.code === code);
}

/** What this environment lacks, or undefined in a browser (or a worker with IndexedDB). */
function lacking(what) {
  const missing = ["indexedDB", "fetch", "crypto"].find((name) => typeof globalThis[name] === "undefined");
  if (missing === undefined) return undefined;
  return new SdkError(
    "UNSUPPORTED",
    `e2ee-sdk runs in a browser: \`${missing}\` is missing here (server-side rendering?), so ${what} ` +
      "cannot run. Call it from the page: in React inside useEffect, in Next.js from a 'use client' " +
      "component's effect or a dynamic import().",
  );
}

let loading;
let loaded = false;

/**
 * Loads the wasm (once; later calls share the first). Optional: `Client.create` calls it.
 * Outside a browser it rejects with `UNSUPPORTED`.
 */
export default function init(options) {
  const refused = lacking("init()");
  if (refused) return Promise.reject(refused);
  loading ??= load(options).then(
    (output) => {
      loaded = true;
      return output;
    },
    (error) => {
      loading = undefined; // a later call may try again (a network blip)
      throw new SdkError("UNSUPPORTED", `the SDK's wasm could not be loaded: ${error}`, { cause: error });
    },
  );
  return loading;
}

/** Loads the wasm from bytes or a compiled module, synchronously. */
export function initSync(module) {
  const refused = lacking("initSync()");
  if (refused) throw refused;
  const output = loadSync(module);
  loaded = true;
  return output;
}

/** The SDK's version, once the wasm is loaded. */
export function version() {
  if (!loaded) throw lacking("version()") ?? new SdkError("UNSUPPORTED", "version(): await init() first");
  return wasmVersion();
}

// The static entry points load the wasm first, so an app needs no top-level `await init()`
// (which hangs or breaks a Next.js build), and refuse clearly on a server.
for (const name of ["create", "deleteLocalData"]) {
  const call = Client[name];
  Client[name] = async function (...args) {
    const refused = lacking(`Client.${name}`);
    if (refused) throw refused;
    await init();
    return call.apply(this, args);
  };
}
