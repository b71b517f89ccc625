// The example chat apps (www/examples/react: Vite + React, www/examples/next: Next.js), as an
// app developer following the docs writes them, in production and in development mode (React
// StrictMode: every effect runs, is cleaned up and runs again at once). For each: two
// accounts in two browser contexts chat both ways, a reload shows the history once, a
// mistyped address shows its error code, and neither page logs an error.
//
// Production builds come from `cargo xtask test` (vite build into www/examples/react/dist,
// served by its static site under DEMO_URL; next build into www/examples/next/.next, run
// here by `next start`); the dev servers (vite, next dev) are started here on free ports.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { after, test } from "node:test";
import { nodeUrl, saveScreenshot, sharedBrowser, url } from "./browser.mjs";

const browser = sharedBrowser();
const root = new URL("../../", import.meta.url).pathname;
const bin = (name) => `${root}node_modules/.bin/${name}`;

/** Hang guards, not speed checks: a dev server's first compile is slow on a small machine. */
const SERVER_START_MS = 180_000;
const WAIT_MS = 90_000;

/** Child processes (dev and production servers) still running, stopped after the tests. */
const servers = new Set();
after(() => Promise.all([...servers].map(stop)));

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Starts `command args…` (its own process group, so that its workers stop with it) and waits
 * until `http://127.0.0.1:PORT/` answers; `args` is a function of the port.
 */
async function startServer(name, command, args) {
  const port = await freePort();
  const child = spawn(command, args(port), {
    cwd: root,
    detached: true,
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1", BROWSER: "none" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const server = { name, child, url: `http://127.0.0.1:${port}/`, output: () => output };
  servers.add(server);
  const deadline = Date.now() + SERVER_START_MS;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`${name} exited with ${child.exitCode}:\n${output}`);
    }
    try {
      // The first request also makes a dev server compile the page.
      const response = await fetch(server.url, { signal: AbortSignal.timeout(SERVER_START_MS) });
      if (response.ok) return server;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${name} did not answer on ${server.url}:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function stop(server) {
  servers.delete(server);
  if (server.child.exitCode !== null) return;
  const exited = new Promise((resolve) => server.child.once("exit", resolve));
  try {
    process.kill(-server.child.pid, "SIGTERM");
  } catch {
    return; // already gone
  }
  const killed = setTimeout(() => {
    try {
      process.kill(-server.child.pid, "SIGKILL");
    } catch {
      // gone meanwhile
    }
  }, 10_000);
  await exited;
  clearTimeout(killed);
}

/** The four ways the apps run: each gives the app's URL (and a server to stop, if any). */
const modes = {
  "react production (vite build)": async () => {
    assert.ok(existsSync(`${root}www/examples/react/dist/index.html`), "vite build ran (cargo xtask test)");
    return { url: new URL("examples/react/dist/index.html", url).href };
  },
  "react development (vite dev server)": async () => {
    const server = await startServer("vite", bin("vite"), (port) => [
      "--config", "www/examples/react/vite.config.ts", "--host", "127.0.0.1", "--port", String(port), "--strictPort",
    ]);
    return { url: server.url, server };
  },
  "next production (next build, next start)": async () => {
    assert.ok(existsSync(`${root}www/examples/next/.next/BUILD_ID`), "next build ran (cargo xtask test)");
    const server = await startServer("next start", bin("next"), (port) => [
      "start", "www/examples/next", "--hostname", "127.0.0.1", "--port", String(port),
    ]);
    return { url: server.url, server };
  },
  "next development (next dev)": async () => {
    const server = await startServer("next dev", bin("next"), (port) => [
      "dev", "www/examples/next", "--hostname", "127.0.0.1", "--port", String(port),
    ]);
    return { url: server.url, server };
  },
};

/** Opens the app in a new browser context (a new account); collects the page's errors. */
async function account(appUrl, peer = null) {
  const context = await browser().newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(`page error: ${err.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") {
      errors.push(`console error: ${message.text()} (${message.location().url})`);
    }
  });
  const target = new URL(appUrl);
  target.searchParams.set("node", nodeUrl);
  if (peer) target.searchParams.set("peer", peer);
  await page.goto(target.href);
  const address = await ready(page);
  return { context, page, errors, address };
}

/** Waits for the client (its address shown) or an error; returns the address. */
async function ready(page) {
  await page.waitForSelector("#address:text-matches('^0x[0-9a-f]{40}$'), #error", { timeout: WAIT_MS });
  await failIfError(page);
  return page.textContent("#address");
}

async function failIfError(page) {
  const error = await page.$("#error");
  if (error) {
    assert.fail(`the app shows ${await error.getAttribute("data-code")}: ${await error.textContent()}`);
  }
}

async function open(page, peer) {
  await page.fill("#peer", peer);
  await page.click("#open");
  await page.waitForSelector("#messages", { state: "attached", timeout: WAIT_MS });
}

async function send(page, text) {
  await page.fill("#text", text);
  await page.click("#send");
}

/** The conversation shown, as { sender, text, state } rows. */
function rows(page) {
  return page.$$eval("#messages li", (items) =>
    items.map((li) => ({
      sender: li.dataset.sender,
      text: li.querySelector(".text").textContent,
      state: li.dataset.state,
    })),
  );
}

/** Waits until the conversation shows exactly `expected` (sender, text, state) rows. */
async function shows(page, expected) {
  try {
    await page.waitForFunction(
      (want) => {
        const items = [...document.querySelectorAll("#messages li")];
        return (
          items.length === want.length &&
          items.every(
            (li, i) =>
              li.dataset.sender === want[i].sender &&
              li.querySelector(".text")?.textContent === want[i].text &&
              li.dataset.state === want[i].state,
          )
        );
      },
      expected,
      { timeout: WAIT_MS },
    );
  } catch (err) {
    await failIfError(page);
    assert.deepEqual(await rows(page), expected, `${err.message}`);
  }
  assert.deepEqual(await rows(page), expected);
}

for (const [mode, start] of Object.entries(modes)) {
  test(`the ${mode} app: two accounts chat both ways, and a reload shows the history once`, async () => {
    const app = await start();
    try {
      // Bob opens the app; Alice opens it with ?peer=Bob, and Bob types her address.
      const bob = await account(app.url);
      const alice = await account(app.url, bob.address);
      await alice.page.waitForSelector("#messages", { state: "attached", timeout: WAIT_MS });
      await open(bob.page, alice.address);

      const hello = `hello Bob, from ${mode}`;
      await send(alice.page, hello);
      await shows(bob.page, [{ sender: alice.address, text: hello, state: "RECEIVED" }]);
      const reply = "hi Alice <b>not bold</b> ✓";
      await send(bob.page, reply);
      await shows(alice.page, [
        { sender: alice.address, text: hello, state: "SENT" },
        { sender: bob.address, text: reply, state: "RECEIVED" },
      ]);

      // Alice reloads: same wallet (kept in localStorage), same database, the history once.
      await alice.page.reload();
      assert.equal(await ready(alice.page), alice.address);
      await shows(alice.page, [
        { sender: alice.address, text: hello, state: "SENT" },
        { sender: bob.address, text: reply, state: "RECEIVED" },
      ]);
      await shows(bob.page, [
        { sender: alice.address, text: hello, state: "RECEIVED" },
        { sender: bob.address, text: reply, state: "SENT" },
      ]);

      const name = mode.split(" ").slice(0, 2).join("-");
      await saveScreenshot(alice.page, `app-${name}-alice.png`);
      await saveScreenshot(bob.page, `app-${name}-bob.png`);

      // A mistyped address shows as the SDK's error code.
      await bob.page.fill("#peer", "0x1234");
      await bob.page.click("#open");
      await bob.page.waitForSelector('#error[data-code="INVALID_ADDRESS"]', { timeout: WAIT_MS });
      assert.deepEqual(alice.errors, [], "Alice's page");
      assert.deepEqual(bob.errors, [], "Bob's page");
      await alice.context.close();
      await bob.context.close();
    } catch (err) {
      if (app.server) err.message += `\n--- ${app.server.name} output:\n${app.server.output()}`;
      throw err;
    } finally {
      if (app.server) await stop(app.server);
    }
  });
}
