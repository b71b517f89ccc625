// The generated TypeScript declarations: the README's example type-checks against pkg/'s
// .d.ts with `tsc --noEmit`, and misuse does not (so the types are not `any`).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));

/** The first ```ts block of a README. */
function readmeExample(file = "README.md") {
  const readme = readFileSync(join(root, file), "utf8");
  const block = readme.match(/```ts\n([\s\S]*?)```/);
  assert.ok(block, `${file} has a \`\`\`ts example`);
  return block[1];
}

/** Runs tsc on `source` (as a module importing "e2ee-sdk" = pkg/); returns [status, output]. */
function typeCheck(source) {
  const dir = mkdtempSync(join(tmpdir(), "e2ee-sdk-types-"));
  writeFileSync(join(dir, "example.ts"), source);
  const config = {
    compilerOptions: {
      target: "es2022",
      module: "es2022",
      moduleResolution: "bundler",
      lib: ["es2022", "dom", "dom.asynciterable"],
      strict: true,
      noEmit: true,
      types: [],
      baseUrl: root,
      paths: { "e2ee-sdk": ["pkg/index.d.ts"], ethers: ["node_modules/ethers/lib.esm/index.d.ts"] },
    },
    files: [join(dir, "example.ts")],
  };
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(config));
  const tsc = spawnSync(join(root, "node_modules/.bin/tsc"), ["-p", dir], { encoding: "utf8" });
  return [tsc.status, tsc.stdout + tsc.stderr];
}

test("the README example type-checks against the generated declarations", () => {
  const [status, output] = typeCheck(readmeExample());
  assert.equal(status, 0, output);
});

test("the package README's example type-checks too", () => {
  const [status, output] = typeCheck(readmeExample("docs/npm-README.md"));
  assert.equal(status, 0, output);
});

test("errors are told apart by their code", () => {
  const [status, output] = typeCheck(`
import { SdkError, isSdkError, type ErrorCode } from "e2ee-sdk";
declare const err: unknown;
if (isSdkError(err, "NETWORK")) { const code: "NETWORK" = err.code; console.log(code, err.cause); }
if (err instanceof SdkError) { const code: ErrorCode = err.code; console.log(code); }
const made = new SdkError("UNSUPPORTED", "x");
console.log(made.name === "SdkError");
`);
  assert.equal(status, 0, output);
  const [wrong, wrongOutput] = typeCheck(`
import { isSdkError } from "e2ee-sdk";
declare const err: unknown;
if (isSdkError(err, "NOT_A_CODE")) console.log(err);
`);
  assert.notEqual(wrong, 0);
  assert.match(wrongOutput, /example\.ts\(4,/);
});

test("misuse does not type-check", () => {
  const misuse = `
import { Client } from "e2ee-sdk";
const missing = await Client.create({ nodeUrl: "http://127.0.0.1:5555" });
const client = await Client.create({ signer: { getAddress: async () => "0x", signMessage: async (m: string) => m }, nodeUrl: "", dbName: "d" });
const chat = await client.conversation("0x0000000000000000000000000000000000000001");
const id: number = await chat.send("hi");
for (const m of await chat.messages({ limit: "ten" })) {
  if (m.state === "DELIVERED") console.log(m.content.toUpperCase());
}
for await (const event of client.stream()) {
  if (event.type === "removed") console.log(event.message);
}
`;
  const [status, output] = typeCheck(misuse);
  assert.notEqual(status, 0);
  for (const line of [3, 6, 7, 8, 11]) {
    assert.match(output, new RegExp(`example\\.ts\\(${line},`), `line ${line} is an error:\n${output}`);
  }
});
