// The package's entry point: wasm-bindgen's declarations plus the parts written in JS.
// wasm-bindgen's classes have `[Symbol.dispose]()`: declared in this lib (TypeScript 5.2+), so
// an app whose `lib` stops at ES2022 type-checks without `skipLibCheck`.
/// <reference lib="esnext.disposable" />
import type { ErrorCode, InitInput, InitOutput, SyncInitInput } from "./e2ee_sdk.js";

export * from "./e2ee_sdk.js";

/** Every error the SDK throws: branch on `err.code`. The wallet's own error, if any, is `err.cause`. */
export declare class SdkError extends Error {
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown });
  name: "SdkError";
  code: ErrorCode;
}

/** Whether `value` is an error from the SDK (and has `code`, if given). */
export declare function isSdkError<C extends ErrorCode>(value: unknown, code?: C): value is SdkError & { code: C };

/**
 * Loads the wasm, once (later calls share the first). Optional: `Client.create` calls it.
 * Outside a browser (server-side rendering) it rejects with `UNSUPPORTED`.
 */
export default function init(
  module_or_path?: { module_or_path: InitInput | Promise<InitInput> } | InitInput | Promise<InitInput>,
): Promise<InitOutput>;

/** The SDK's version, once the wasm is loaded (else `UNSUPPORTED`). */
export declare function version(): string;

/** Loads the wasm from bytes or a compiled module, synchronously. */
export declare function initSync(module: { module: SyncInitInput } | SyncInitInput): InitOutput;
