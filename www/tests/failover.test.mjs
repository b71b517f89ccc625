// Fail-over between node replicas, with real processes: two devnode replicas on one PostgreSQL
// database, two browser clients A and B each given both URLs (A replica 1 first, B replica 2
// first). B sends A a burst while A streams from replica 1; replica 1 is killed (SIGKILL)
// mid-burst; A must go on from replica 2 and show every message whose `send` resolved at B
// exactly once, in order. Then the reverse: replica 1 comes back on its port, A sends B a burst
// while both use replica 2, replica 2 is killed mid-burst, and B must show all of A's messages
// exactly once, in order, from replica 1 (A's publishes fail over there too).
//
// Before the first kill A streams from replica 1 what B publishes on replica 2: that arrives by
// the stream only if the replicas share notifications; the test does not count on it, since
// A's reconnection to replica 2 asks for a catch-up pull that reads the database.
//
// Run by `cargo xtask test`, which starts a throwaway PostgreSQL cluster. Environment:
//   DEVNODE_DATABASE_URL  the database both replicas use (postgres://…); required
//   DEVNODE_BIN           the devnode binary; required
//   DEMO_URL              the served www/ (its /pkg/ and /vendor/ethers/); required
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { after, before, test } from "node:test";
import { launch, saveScreenshot, url } from "./browser.mjs";

const database = process.env.DEVNODE_DATABASE_URL;
const devnodeBin = process.env.DEVNODE_BIN;
/** Messages in each burst, sent `GAP_MS` apart; the replica dies after `KILL_AFTER` of them. */
const BURST = 30;
const GAP_MS = 40;
const KILL_AFTER = 10;
/** How long a step may take: a guard against hangs, not a speed check. */
const STEP_MS = 60_000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 200 ms until it returns a truthy value, failing with `what` at `ms`. */
async function until(check, what, ms = STEP_MS) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    assert.ok(Date.now() < deadline, `${what}: not within ${ms} ms`);
    await sleep(200);
  }
}

/** One devnode replica on `database`: a free port at its first start, kept across restarts. */
class Replica {
  constructor(name) {
    this.name = name;
    this.port = 0;
    this.url = null;
    this.log = "";
    this.process = null;
  }

  async start() {
    const child = spawn(devnodeBin, ["--listen", `127.0.0.1:${this.port}`, "--database", database], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.process = child;
    const keep = (chunk) => {
      this.log = (this.log + chunk).slice(-4000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    const exited = new Promise((resolve) => child.once("exit", resolve));
    await until(async () => {
      const code = await Promise.race([exited.then((c) => `exited ${c}`), sleep(0)]);
      assert.ok(!code, `${this.name} ${code}: ${this.log}`);
      // It prints the address it took: "devnode listening on http://127.0.0.1:PORT".
      const port = /devnode listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(this.log)?.[1];
      if (!port) return false;
      this.port = Number(port);
      this.url = `http://127.0.0.1:${port}`;
      const health = await fetch(`${this.url}/devnode/health`, { signal: AbortSignal.timeout(2000) }).catch(
        () => null,
      );
      return health?.ok;
    }, `${this.name} answering at ${this.url}`);
  }

  /** SIGKILL: no graceful shutdown, open streams break. */
  async kill() {
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
  }
}

/** One browser client (its own context: its own IndexedDB) on the failover page. */
class Side {
  constructor(browser, name, nodeUrls) {
    this.browser = browser;
    this.name = name;
    this.nodeUrls = nodeUrls;
    this.key = `0x${randomBytes(32).toString("hex")}`;
    this.promised = [];
    this.errors = [];
  }

  async open() {
    this.context = await this.browser.newContext();
    await this.context.exposeBinding("failoverPromised", (_source, rec) => this.promised.push(rec));
    this.page = await this.context.newPage();
    this.page.on("pageerror", (err) => this.errors.push(err.message));
    const page = new URL("tests/failover.html", url);
    page.search = new URLSearchParams({ node: this.nodeUrls.join(","), key: this.key, name: this.name }).toString();
    await this.page.goto(page.href);
    await this.page.waitForFunction(() => globalThis.failover, null, { timeout: STEP_MS });
    this.address = await this.call(() => globalThis.failover.start());
    assert.deepEqual(await this.call(() => globalThis.failover.nodeUrls), this.nodeUrls);
  }

  call(fn, arg) {
    return this.page.evaluate(fn, arg);
  }

  nodeUrl() {
    return this.call(() => globalThis.failover.nodeUrl);
  }

  messages() {
    return this.call(() => globalThis.failover.messages());
  }

  /** Starts a burst of `BURST` messages tagged `tag`; resolves when every send resolved. */
  burst(tag) {
    const texts = Array.from({ length: BURST }, (_, i) => `${this.name}${i} ${tag}`);
    this.promised = [];
    return this.call(([t, gap]) => globalThis.failover.burst(t, gap), [texts, GAP_MS]);
  }
}

/**
 * Waits until `receiver` shows every message `sender` promised, then checks: each exactly
 * once (no id or text twice), with its text, in the sender's order, nothing unpromised.
 */
async function checkArrived(sender, receiver) {
  const promised = [...sender.promised].sort((a, b) => a.seq - b.seq);
  assert.equal(promised.length, BURST, `${sender.name}: every send of the burst resolved`);
  const fromSender = async () => (await receiver.messages()).filter((m) => m.sender === sender.address);
  await until(async () => {
    const shown = new Set((await fromSender()).filter((m) => m.state === "RECEIVED").map((m) => m.id));
    return promised.every((p) => shown.has(p.id));
  }, `${sender.name}'s ${BURST} messages shown at ${receiver.name}`);
  const shown = await fromSender();
  const ids = shown.map((m) => m.id);
  assert.equal(new Set(ids).size, ids.length, `no message shown twice at ${receiver.name}: ${ids}`);
  const texts = shown.map((m) => m.text);
  assert.equal(new Set(texts).size, texts.length, `no text shown twice at ${receiver.name}`);
  assert.deepEqual(
    shown.map((m) => ({ id: m.id, text: m.text, state: m.state })),
    promised.map((p) => ({ id: p.id, text: p.text, state: "RECEIVED" })),
    `${receiver.name} shows exactly ${sender.name}'s resolved sends, in order`,
  );
}

/**
 * Runs `burst` and kills `replica` once `KILL_AFTER` of its sends resolved; says how many of
 * them `receiver` showed by then.
 */
async function burstAndKill(sender, receiver, tag, replica, t) {
  let done = false;
  const burst = sender.burst(tag).finally(() => {
    done = true;
  });
  await until(() => sender.promised.length >= KILL_AFTER || done, `${KILL_AFTER} sends resolved`);
  await replica.kill();
  const killedAt = sender.promised.length;
  const shown = (await receiver.messages()).filter((m) => m.sender === sender.address).length;
  t.diagnostic(`${replica.name} killed after ${killedAt} of ${sender.name}'s sends; ${receiver.name} showed ${shown}`);
  await burst;
  assert.ok(killedAt < BURST, `${replica.name} died mid-burst (after ${killedAt} of ${BURST} sends)`);
}

let browser;
const replicas = [];
const sides = [];

before(async () => {
  assert.ok(
    database,
    "DEVNODE_DATABASE_URL is not set: the fail-over test needs a PostgreSQL database for two devnode " +
      "replicas. `cargo xtask test` starts a throwaway PostgreSQL cluster and sets it (and DEVNODE_BIN); " +
      "to run this file alone, set DEVNODE_DATABASE_URL=postgres://… and DEVNODE_BIN=<path to devnode>.",
  );
  assert.ok(
    devnodeBin && existsSync(devnodeBin),
    `DEVNODE_BIN must name the devnode binary (set by \`cargo xtask test\`), got ${devnodeBin}`,
  );
  assert.ok(url, "DEMO_URL (the served www/) is set by `cargo xtask test`");
  for (const name of ["replica 1", "replica 2"]) {
    const replica = new Replica(name);
    replicas.push(replica);
    await replica.start();
  }
  browser = await launch();
});

after(async () => {
  for (const side of sides) await side.context?.close().catch(() => {});
  await browser?.close();
  for (const replica of replicas) await replica.kill();
});

test("a client streaming from a replica that is killed goes on from the other, losing and doubling nothing", { timeout: 5 * STEP_MS }, async (t) => {
  const [r1, r2] = replicas;
  const a = new Side(browser, "A", [r1.url, r2.url]);
  const b = new Side(browser, "B", [r2.url, r1.url]);
  sides.push(a, b);
  await Promise.all([a.open(), b.open()]);
  await a.call((peer) => globalThis.failover.open(peer), b.address);
  await b.call((peer) => globalThis.failover.open(peer), a.address);
  assert.equal(await a.nodeUrl(), r1.url, "A starts on replica 1");
  assert.equal(await b.nodeUrl(), r2.url, "B starts on replica 2");

  try {
    // B → A; A's stream is on replica 1, which dies mid-burst.
    await burstAndKill(b, a, "first", r1, t);
    await checkArrived(b, a);
    assert.equal(await a.nodeUrl(), r2.url, "A went on from replica 2");
    assert.equal(await b.nodeUrl(), r2.url, "B stayed on replica 2");

    // A → B: replica 1 back on its port; replica 2, which both use now, dies mid-burst.
    await r1.start();
    await burstAndKill(a, b, "second", r2, t);
    await checkArrived(a, b);
    assert.equal(await a.nodeUrl(), r1.url, "A's publishes failed over to replica 1");
    assert.equal(await b.nodeUrl(), r1.url, "B went on from replica 1");
    for (const side of [a, b]) {
      assert.deepEqual(side.errors, [], `no page errors at ${side.name}`);
      // The replicas are one node: with one of them up, it never was unreachable.
      const events = await side.call(() => globalThis.failover.nodeEvents);
      assert.deepEqual(events, [], `no node events at ${side.name}`);
    }
  } finally {
    for (const side of [a, b]) await saveScreenshot(side.page, `failover-${side.name}.png`).catch(() => {});
  }
});
