// End to end: the demo chat in real headless Chromium against devnode. Two browser contexts
// are two profiles (two wallets); two pages of one context are two tabs of one profile.
// Run by `cargo xtask test` (DEMO_URL points at the served page with ?node=devnode).
import assert from "node:assert/strict";
import { test } from "node:test";
import { saveScreenshot, setFaults, sharedBrowser, url } from "./browser.mjs";

const browser = sharedBrowser();

/** A profile with the demo open: its page and address. */
async function profile(context = null) {
  const ctx = context ?? (await browser().newContext());
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(err.message));
  await page.goto(url);
  await ready(page);
  return { ctx, page, errors, address: await page.textContent("#address") };
}

/** Waits for the page's client (a guard against a hang, not a speed check). */
async function ready(page) {
  await page.waitForSelector('#status[data-state="ok"]', { timeout: 60_000 });
}

async function openChat(page, peer) {
  await page.fill("#peer", peer);
  await page.click("#open button");
  await page.waitForSelector("#compose:not([hidden])");
}

async function send(page, text) {
  await page.fill("#text", text);
  await page.press("#text", "Enter");
}

/** The open conversation as (sender, text, state) rows. */
async function rows(page) {
  return page.$$eval("#messages li", (items) =>
    items.map((li) => ({
      sender: li.querySelector(".sender").textContent,
      text: li.querySelector(".text").textContent,
      state: li.dataset.state,
    })),
  );
}

/** Waits until the open conversation shows `count` messages, all in `states`. */
async function until(page, count, states) {
  try {
    await page.waitForFunction(
      ([n, ok]) => {
        const items = [...document.querySelectorAll("#messages li")];
        return items.length >= n && items.every((li) => ok.includes(li.dataset.state));
      },
      [count, states],
      { timeout: 60_000 },
    );
  } catch (err) {
    const shown = (await rows(page)).map((r) => `${r.text}: ${r.state}`).join(", ");
    throw new Error(`not ${count} messages in ${states}: ${shown}`, { cause: err });
  }
  return rows(page);
}

test("two profiles chat both ways", async () => {
  const alice = await profile();
  const bob = await profile();
  await openChat(alice.page, bob.address);
  await send(alice.page, "hello bob <b>not bold</b>");
  await until(alice.page, 1, ["SENT"]);

  // Bob's page lists the new conversation; he opens it and answers.
  await bob.page.waitForSelector(`#conversations button[data-peer="${alice.address}"]`, { timeout: 60_000 });
  await bob.page.click(`#conversations button[data-peer="${alice.address}"]`);
  await until(bob.page, 1, ["RECEIVED"]);
  await send(bob.page, "hi alice");
  const atBob = await until(bob.page, 2, ["RECEIVED", "SENT"]);
  const atAlice = await until(alice.page, 2, ["RECEIVED", "SENT"]);

  assert.deepEqual(atAlice, [
    { sender: "you", text: "hello bob <b>not bold</b>", state: "SENT" },
    { sender: `${bob.address.slice(0, 6)}…${bob.address.slice(-4)}`, text: "hi alice", state: "RECEIVED" },
  ]);
  assert.deepEqual(atBob.map((r) => [r.text, r.state]), [
    ["hello bob <b>not bold</b>", "RECEIVED"],
    ["hi alice", "SENT"],
  ]);
  assert.equal(await alice.page.$("#messages b"), null, "message text is never HTML");
  await saveScreenshot(alice.page, "chat-alice.png");
  await saveScreenshot(bob.page, "chat-bob.png");
  assert.deepEqual([...alice.errors, ...bob.errors], []);
  await alice.ctx.close();
  await bob.ctx.close();
});

test("a reload while the node fails publishes loses and doubles nothing", async () => {
  const alice = await profile();
  const bob = await profile();
  await openChat(alice.page, bob.address);
  await setFaults({ publishFailRate: 1.0 });
  try {
    const texts = Array.from({ length: 20 }, (_, i) => `offline ${i}`);
    for (const [i, text] of texts.entries()) {
      await send(alice.page, text);
      // Each message is stored (shown) before the next is typed.
      await alice.page.waitForFunction((n) => document.querySelectorAll("#messages li").length >= n, i + 1);
      if (i === 9) {
        await alice.page.reload();
        await ready(alice.page);
        await openChat(alice.page, bob.address);
      }
    }
    await setFaults({});
    const atAlice = await until(alice.page, 20, ["SENT"]);
    assert.deepEqual(atAlice.map((r) => r.text), texts);

    await openChat(bob.page, alice.address);
    const atBob = await until(bob.page, 20, ["RECEIVED"]);
    assert.deepEqual(atBob.map((r) => r.text), texts, "all 20, once each, in order");
    await saveScreenshot(bob.page, "chat-after-reload.png");
  } finally {
    await setFaults({});
    await alice.ctx.close();
    await bob.ctx.close();
  }
});

test("two tabs of one profile send at the same time without losing or doubling", async () => {
  const bob = await profile();
  const first = await profile();
  const second = await profile(first.ctx);
  assert.equal(second.address, first.address, "one profile, one wallet");
  await openChat(first.page, bob.address);
  await openChat(second.page, bob.address);
  const texts = { first: [], second: [] };
  await Promise.all(
    ["first", "second"].map(async (tab) => {
      const page = tab === "first" ? first.page : second.page;
      for (let i = 0; i < 10; i++) {
        texts[tab].push(`${tab} ${i}`);
        await send(page, `${tab} ${i}`);
      }
    }),
  );
  await openChat(bob.page, first.address);
  const atBob = await until(bob.page, 20, ["RECEIVED"]);
  const shown = atBob.map((r) => r.text);
  assert.equal(shown.length, 20);
  assert.deepEqual([...shown].sort(), [...texts.first, ...texts.second].sort(), "each once");
  for (const tab of ["first", "second"]) {
    assert.deepEqual(shown.filter((t) => t.startsWith(tab)), texts[tab], `${tab} tab's order kept`);
  }
  // Both tabs show all 20 as sent.
  for (const page of [first.page, second.page]) {
    assert.equal((await until(page, 20, ["SENT"])).length, 20);
  }
  await saveScreenshot(bob.page, "chat-two-tabs.png");
  await first.ctx.close();
  await bob.ctx.close();
});
