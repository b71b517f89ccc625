// What the page tests share: Chromium launched as the wasm tests launch it, and screenshots
// saved under test-results/.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { after, before } from "node:test";
import { chromium } from "playwright-core";

const root = new URL("../../", import.meta.url);

/** Chromium's arguments, shared with the wasm tests' webdriver.json (headless is Playwright's). */
function chromiumArgs() {
  const config = JSON.parse(readFileSync(new URL("webdriver.json", root), "utf8"));
  return config["goog:chromeOptions"].args.filter((arg) => !arg.startsWith("--headless"));
}

/** The system Chromium, headless, with `extraArgs` after the shared ones. */
export function launch(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [...chromiumArgs(), ...extraArgs],
  });
}

/**
 * A browser profile kept in `userDataDir` (its IndexedDB and localStorage survive closing it
 * and launching it again on the same directory): the system Chromium, headless.
 */
export function launchProfile(userDataDir) {
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: chromiumArgs(),
  });
}

/** Saves a full-page screenshot of `page` as test-results/`name`. */
export async function saveScreenshot(page, name) {
  const results = new URL("test-results/", root);
  mkdirSync(results, { recursive: true });
  await page.screenshot({ path: new URL(name, results).pathname, fullPage: true });
}

/** The served demo page (DEMO_URL, with ?node=devnode) and the devnode URL. */
export const url = process.env.DEMO_URL;
export const nodeUrl = url && new URL(url).searchParams.get("node");

/** The headers of devnode's admin routes: JSON, and the token the test command started it with. */
function adminHeaders() {
  const token = process.env.DEVNODE_ADMIN_TOKEN;
  assert.ok(token, "DEVNODE_ADMIN_TOKEN (devnode's --admin-token) is set by `cargo xtask test`");
  return { "Content-Type": "application/json", Authorization: `Bearer ${token}` };
}

/** Replaces devnode's fault configuration (`{}` turns every fault off). */
export async function setFaults(config) {
  const response = await fetch(`${nodeUrl}/devnode/faults`, {
    method: "POST",
    headers: adminHeaders(),
    body: JSON.stringify(config),
    signal: AbortSignal.timeout(10_000),
  });
  assert.ok(response.ok, `devnode took the faults ${JSON.stringify(config)}: ${response.status}`);
}

/** devnode's fault configuration in force. */
export async function readFaults() {
  const response = await fetch(`${nodeUrl}/devnode/faults`, {
    headers: adminHeaders(),
    signal: AbortSignal.timeout(10_000),
  });
  assert.ok(response.ok, `devnode showed its faults: ${response.status}`);
  return response.json();
}

/**
 * One Chromium for the calling test file, launched before its tests and closed after them;
 * the returned function gives it to the tests.
 */
export function sharedBrowser() {
  let browser;
  before(async () => {
    assert.ok(url && nodeUrl, "DEMO_URL (with ?node=) is set by `cargo xtask test`");
    browser = await launch();
  });
  after(() => browser?.close());
  return () => browser;
}
