// The two-profile storm: two browser profiles (A and B, each a persistent Chromium profile
// with its own wallet, IndexedDB and localStorage) send bursts of 20 messages to each other
// while one of them is reloaded, or has its tab or its whole profile closed and reopened, at a
// random moment 5–255 ms into a burst, and devnode's faults switch at random. Then the faults
// go off, both sides settle, and every message whose `send` resolved must be shown exactly
// once on the other side, with its content, in its sender's order; nothing is shown twice.
//
// Run by `cargo xtask test` (DEMO_URL: the served www/ with ?node=devnode); the page is
// www/tests/storm.html. Environment:
//   STORM_RELOADS   reloads/closes in the run (default 20; 0: none)
//   STORM_ROUNDS    bursts per profile (default max(STORM_RELOADS, 10))
//   STORM_SEED      the seed of every random choice (default random; always printed)
//   STORM_FAULTS    0: no devnode faults (default: faults on)
//   STORM_SETTLE_MS the most the settling may take after the storm (default 90000)
//   STORM_TURNS     1: A and B burst in turns, not at the same time (default 0)
//   STORM_TOGETHER  1: the 20 sends of a burst are called at once, not each awaited (default 0)
//   STORM_WARMUP    how the chat starts, before the storm: 0 (default) first contact at the same
//                   moment, both profiles send their first burst of 20 to each other at once
//                   (faults off, no reload); 1: A writes one message and B answers once it
//                   arrived, so the storm runs on sessions both sides already agree on
import assert from "node:assert/strict";
import { randomBytes, randomInt } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { launchProfile, nodeUrl, saveScreenshot, setFaults, url } from "./browser.mjs";

const number = (name, fallback) => {
  const value = process.env[name];
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  assert.ok(Number.isInteger(n) && n >= 0, `${name} must be a whole number, not ${value}`);
  return n;
};

const RELOADS = number("STORM_RELOADS", 20);
const ROUNDS = Math.max(number("STORM_ROUNDS", Math.max(RELOADS, 10)), RELOADS);
const SEED = number("STORM_SEED", randomInt(2 ** 31));
const FAULTS = process.env.STORM_FAULTS !== "0";
const SETTLE_MS = number("STORM_SETTLE_MS", 90_000);
const TURNS = process.env.STORM_TURNS === "1";
const WARMUP = process.env.STORM_WARMUP === "1";
const TOGETHER = process.env.STORM_TOGETHER === "1";
const BURST = 20;
/** How long both sides may stay unchanged while something sent is not shown on the other
 * side (a message unsent or not shown, an UNDECRYPTABLE marker) before the storm is judged:
 * past the receiver's periodic pull (every minute, which fetches an envelope a node's stream
 * held back) and a repair notice (at most once a minute per installation). */
const QUIET_PENDING_MS = 65_000;
/** How long one step may take: a guard against hangs, not a speed check. */
const STEP_MS = 60_000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** mulberry32: every choice of the storm comes from STORM_SEED, in a fixed order. */
function random(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1));
  return { next, int, chance: (p) => next() < p, pick: (items) => items[int(0, items.length - 1)] };
}

/** Fails with `what` if `promise` takes longer than `ms`. */
async function bounded(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: still not done after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A random fault configuration of devnode (sometimes none at all). */
function randomFaults(r) {
  const config = { seed: r.int(0, 2 ** 31) };
  if (r.chance(0.2)) return config;
  const rate = (most) => Math.round(r.next() * most * 100) / 100;
  if (r.chance(0.5)) config.publishFailRate = rate(0.6);
  if (r.chance(0.4)) config.dropAckRate = rate(0.4);
  if (r.chance(0.4)) config.duplicateRate = rate(0.4);
  if (r.chance(0.4)) config.reorderRate = rate(0.5);
  if (r.chance(0.4)) config.latencyMs = r.int(0, 300);
  if (r.chance(0.3)) config.streamCutAfter = r.int(0, 20);
  return config;
}

/** One browser profile (a persistent Chromium user-data directory) with the storm page. */
class Profile {
  constructor(name) {
    this.name = name;
    this.key = `0x${randomBytes(32).toString("hex")}`;
    this.dir = mkdtempSync(join(tmpdir(), `storm-${name}-`));
    this.peer = null;
    this.address = null;
    /** Every text given to a burst, by sequence number (the sender's order). */
    this.texts = new Map();
    this.nextSeq = 0;
    /** Resolved sends, by sequence number: { seq, id, text }. */
    this.promised = new Map();
    this.conflicts = [];
    this.errors = [];
    this.launches = 0;
  }

  pageUrl() {
    const page = new URL("tests/storm.html", url);
    page.search = new URLSearchParams({ node: nodeUrl, key: this.key, name: this.name }).toString();
    return page.href;
  }

  record(rec) {
    const known = this.promised.get(rec.seq);
    if (known && known.id !== rec.id) this.conflicts.push({ known, rec });
    this.promised.set(rec.seq, rec);
  }

  /** Launches the profile's browser on its directory and opens the page. */
  async launch() {
    this.context = await launchProfile(this.dir);
    this.launches++;
    await this.context.exposeBinding("stormPromised", (_source, rec) => this.record(rec));
    await this.open(this.context.pages()[0] ?? (await this.context.newPage()));
  }

  async open(page) {
    this.page = page;
    page.on("pageerror", (err) => this.errors.push(err.message));
    await page.goto(this.pageUrl());
    await this.ready();
  }

  /** Waits for the client; opens the conversation; takes the records the last page left. */
  async ready() {
    await this.page.waitForSelector('#status:not([data-state="loading"])', { timeout: STEP_MS });
    if ((await this.page.getAttribute("#status", "data-state")) !== "ok") {
      throw new Error(`${this.name}'s page failed: ${await this.page.textContent("#error")}`);
    }
    this.address = await this.call(() => globalThis.storm.address);
    if (this.peer) await this.call((peer) => globalThis.storm.open(peer), this.peer);
    await this.collect();
  }

  async collect() {
    for (const rec of await this.call(() => globalThis.storm.promisedRecords())) {
      this.record(rec);
    }
  }

  /** Starts sending `n` messages; resolves with whether the burst ran to its end. */
  burst(round, n = BURST) {
    const seqs = Array.from({ length: n }, () => this.nextSeq++);
    const texts = seqs.map((seq) => `${this.name}${seq} r${round}`);
    seqs.forEach((seq, i) => this.texts.set(seq, texts[i]));
    const together = TOGETHER && n > 1;
    return this.page.evaluate(([t, s, x]) => globalThis.storm.burst(t, s, x), [texts, seqs, together]).then(
      () => true,
      () => false,
    );
  }

  /** Reloads the page, or closes and reopens the tab or the whole profile. */
  async disrupt(kind) {
    if (kind === "reload") {
      await this.page.reload({ waitUntil: "commit", timeout: STEP_MS });
      await this.ready();
    } else if (kind === "close tab") {
      const context = this.page.context();
      await this.page.close();
      await this.open(await context.newPage());
    } else {
      await this.context.close();
      await this.launch();
    }
  }

  call(fn, arg) {
    return bounded(this.page.evaluate(fn, arg), STEP_MS, `${this.name}: ${fn}`);
  }

  snapshot() {
    return this.call(() => globalThis.storm.snapshot());
  }

  messages() {
    return this.call(() => globalThis.storm.messages());
  }

  async close() {
    await this.context?.close().catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const count = (items) => {
  const counts = {};
  for (const item of items) counts[item] = (counts[item] ?? 0) + 1;
  return counts;
};
const repeated = (items) => Object.entries(count(items)).filter(([, n]) => n > 1);
const seqOf = (text) => Number(/^[AB](\d+) /.exec(text ?? "")?.[1] ?? NaN);

/** What one direction (sender → receiver) shows after settling. */
function check(sender, receiver, atSender, atReceiver) {
  const fromSender = atReceiver.filter((m) => m.sender === sender.address);
  const shown = fromSender.filter((m) => m.state === "RECEIVED");
  const shownById = new Map();
  for (const m of shown) shownById.set(m.id, [...(shownById.get(m.id) ?? []), m]);
  const ownIds = new Set(atSender.filter((m) => m.sender === sender.address).map((m) => m.id));
  const promised = [...sender.promised.values()].sort((a, b) => a.seq - b.seq);
  const missing = promised.filter((p) => !shownById.has(p.id));
  const wrongContent = promised.filter((p) => shownById.get(p.id)?.some((m) => m.text !== p.text));
  const lostAtSender = promised.filter((p) => !ownIds.has(p.id));
  // Beyond the promises: whatever the sender shows as its own message must arrive too.
  const own = atSender.filter((m) => m.sender === sender.address);
  const sentNotShown = own.filter((m) => m.state === "SENT" && !shownById.has(m.id));
  const stuck = own.filter((m) => m.state !== "SENT");
  const promisedSeqs = new Set(promised.map((p) => p.seq));
  const knownTexts = new Set(sender.texts.values());
  const unknown = shown.filter((m) => !knownTexts.has(m.text));
  const unpromisedArrived = shown.filter((m) => !promisedSeqs.has(seqOf(m.text)));
  // The sender's order: each shown message's sequence number must exceed all before it.
  const outOfOrder = [];
  let highest = -1;
  for (const m of shown) {
    const seq = seqOf(m.text);
    if (seq < highest) outOfOrder.push({ text: m.text, after: sender.texts.get(highest) });
    highest = Math.max(highest, seq);
  }
  return {
    direction: `${sender.name}→${receiver.name}`,
    attempted: sender.texts.size,
    promised: promised.length,
    shown: shown.length,
    missing,
    wrongContent,
    lostAtSender,
    sentNotShown,
    stuck,
    unknown,
    unpromisedArrived: unpromisedArrived.length,
    outOfOrder,
    markers: fromSender.filter((m) => m.state !== "RECEIVED").map((m) => `${m.state} ${m.failure ?? ""}`),
  };
}

/** Messages shown twice on one side: the same id, or the same text under two ids. */
function doubles(profile, messages) {
  return {
    side: profile.name,
    ids: repeated(messages.map((m) => m.id)),
    texts: repeated(messages.filter((m) => m.text !== null).map((m) => m.text)),
  };
}

test(
  "the two-profile storm: reloads and closes mid-burst under switching faults lose and double nothing",
  { timeout: 120_000 + ROUNDS * 10_000 + SETTLE_MS },
  async (t) => {
    assert.ok(url && nodeUrl, "DEMO_URL (with ?node=) is set by `cargo xtask test`");
    const replay = `STORM_SEED=${SEED} STORM_RELOADS=${RELOADS} STORM_ROUNDS=${ROUNDS} STORM_FAULTS=${FAULTS ? 1 : 0} STORM_TURNS=${TURNS ? 1 : 0} STORM_WARMUP=${WARMUP ? 1 : 0} STORM_TOGETHER=${TOGETHER ? 1 : 0}`;
    console.log(`storm: ${replay}`);
    t.diagnostic(`storm: ${replay}`);
    const started = Date.now();
    const r = random(SEED);
    const a = new Profile("A");
    const b = new Profile("B");
    const log = [];
    try {
      await setFaults({});
      await bounded(Promise.all([a.launch(), b.launch()]), 2 * STEP_MS, "launching A and B");
      a.peer = b.address;
      b.peer = a.address;
      await a.call((peer) => globalThis.storm.open(peer), b.address);
      await b.call((peer) => globalThis.storm.open(peer), a.address);

      // First contact: both write to each other at the same moment (or, with STORM_WARMUP=1,
      // A writes and B answers once A's message arrived).
      if (!WARMUP) {
        const ran = await bounded(Promise.all([a.burst("f"), b.burst("f")]), STEP_MS, "first contact");
        assert.ok(ran.every(Boolean), "the first bursts are stored");
      } else {
        for (const [from, to] of [[a, b], [b, a]]) {
          assert.ok(await from.burst("w", 1), `${from.name}'s first message is stored`);
          const text = from.texts.get(from.nextSeq - 1);
          const arrived = () =>
            to.call((t) => globalThis.storm.messages().then((ms) => ms.some((m) => m.text === t)), text);
          const deadline = Date.now() + STEP_MS;
          while (!(await arrived())) {
            assert.ok(Date.now() < deadline, `${from.name}'s first message did not arrive at ${to.name}`);
            await sleep(200);
          }
        }
      }

      const stormStart = Date.now();
      // The rounds that end in a reload or close, spread at random over the rounds.
      const order = Array.from({ length: ROUNDS }, (_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const j = r.int(0, i);
        [order[i], order[j]] = [order[j], order[i]];
      }
      const disrupted = new Set(order.slice(0, RELOADS));
      const kinds = { reload: 0, "close tab": 0, "close profile": 0 };

      for (let round = 0; round < ROUNDS; round++) {
        // Every choice is drawn up front, in the same order, whatever happens.
        const plan = {
          faults: randomFaults(r),
          switchAt: r.int(0, 300),
          switchTo: r.chance(0.5) ? randomFaults(r) : null,
          victim: r.pick([a, b]),
          delay: r.int(5, 255),
          kind: r.pick(["reload", "reload", "close tab", "close profile"]),
          pause: r.int(0, 400),
        };
        if (FAULTS) await setFaults(plan.faults);
        const switching =
          FAULTS && plan.switchTo ? sleep(plan.switchAt).then(() => setFaults(plan.switchTo)) : null;
        let note = "";
        const disrupt = async () => {
          await sleep(plan.delay);
          const before = plan.victim.promised.size;
          await bounded(plan.victim.disrupt(plan.kind), 2 * STEP_MS, `${plan.victim.name}: ${plan.kind}`);
          kinds[plan.kind]++;
          note = ` ${plan.kind} ${plan.victim.name} at ${plan.delay} ms (${plan.victim.promised.size - before} sends of the burst resolved)`;
        };
        const ran = [];
        // Both profiles burst at the same time (or, with STORM_TURNS=1, one after the other);
        // the victim of a disrupted round is reloaded or closed `delay` ms into its burst.
        for (const group of TURNS ? [[a], [b]] : [[a, b]]) {
          const bursts = group.map((p) => p.burst(round));
          if (disrupted.has(round) && group.includes(plan.victim)) await disrupt();
          ran.push(...(await bounded(Promise.all(bursts), STEP_MS, `round ${round}'s bursts`)));
        }
        await switching;
        log.push(`round ${round}:${note}${ran.every(Boolean) ? "" : " burst cut"} faults ${JSON.stringify(plan.switchTo ?? plan.faults)}`);
        await sleep(plan.pause);
      }
      const stormMs = Date.now() - stormStart;

      // Settle: faults off, then poll until both sides are quiet (or the deadline).
      await setFaults({});
      const settleStart = Date.now();
      let last = "";
      let changedAt = Date.now();
      let settled = "deadline";
      /** What was still open when both sides first went quiet (for the report). */
      let waitedFor = null;
      while (Date.now() - settleStart < SETTLE_MS) {
        await sleep(1000);
        const snaps = [await a.snapshot(), await b.snapshot()];
        const key = JSON.stringify(snaps.map(({ quietMs, ...s }) => s));
        if (key !== last) {
          last = key;
          changedAt = Date.now();
          continue;
        }
        const quiet = Date.now() - changedAt;
        if (quiet < 3000) continue;
        // Quiet: is everything sent shown on the other side? Until it is, wait as long as
        // it takes the receiver's periodic pull to run (a node may hold back a streamed
        // envelope until the next one, which may never come) or a repair notice to go out.
        await Promise.all([a.collect(), b.collect()]);
        const [atA, atB] = [await a.messages(), await b.messages()];
        const openStates = snaps.map((s) =>
          ["UNINITIALIZED", "COMMITTED", "UNDECRYPTABLE"].filter((state) => s.byState[state]),
        );
        const openDirections = [check(a, b, atA, atB), check(b, a, atB, atA)].filter(
          (d) => d.missing.length || d.sentNotShown.length,
        );
        const open = openStates.some((states) => states.length) || openDirections.length;
        if (open && !waitedFor) {
          waitedFor =
            `A ${openStates[0].join(",") || "-"}, B ${openStates[1].join(",") || "-"}; ` +
            openDirections.map((d) => `${d.direction} ${d.missing.length} missing, ${d.sentNotShown.length} SENT not shown`).join("; ");
        }
        if (!open) {
          settled = `everything promised shown, quiet for ${quiet} ms${waitedFor ? ` (having waited for: ${waitedFor})` : ""}`;
          break;
        }
        if (quiet >= QUIET_PENDING_MS) {
          settled = `quiet for ${quiet} ms with messages pending`;
          break;
        }
      }
      const settleMs = Date.now() - settleStart;

      await Promise.all([a.collect(), b.collect()]);
      const [atA, atB] = [await a.messages(), await b.messages()];
      const directions = [check(a, b, atA, atB), check(b, a, atB, atA)];
      const doubled = [doubles(a, atA), doubles(b, atB)];
      const failures = {
        A: await a.call(() => globalThis.storm.inboundFailures()),
        B: await b.call(() => globalThis.storm.inboundFailures()),
      };
      const missingStates = {};
      for (const [d, sender] of [[directions[0], a], [directions[1], b]]) {
        const ids = d.missing.map((p) => p.id);
        missingStates[d.direction] = await sender.call((x) => globalThis.storm.states(x), ids);
      }

      const failed =
        directions.some(
          (d) =>
            d.missing.length ||
            d.wrongContent.length ||
            d.lostAtSender.length ||
            d.sentNotShown.length ||
            d.unknown.length ||
            d.outOfOrder.length,
        ) ||
        doubled.some((d) => d.ids.length || d.texts.length) ||
        a.conflicts.length ||
        b.conflicts.length;

      const lines = [
        `storm ${failed ? "FAILED" : "passed"}: ${replay}`,
        `  ${ROUNDS} rounds, ${kinds.reload} reloads, ${kinds["close tab"]} tab closes, ${kinds["close profile"]} profile closes; ` +
          `storm ${(stormMs / 1000).toFixed(1)} s, settle ${(settleMs / 1000).toFixed(1)} s (${settled}), total ${((Date.now() - started) / 1000).toFixed(1)} s`,
      ];
      for (const d of directions) {
        const states = missingStates[d.direction];
        const stateCounts = count(
          Object.values(states).map((s) => (s ? `${s.state}${s.failure ? ` (${s.failure})` : ""}` : "unknown at sender")),
        );
        lines.push(
          `  ${d.direction}: ${d.attempted} sent to bursts, ${d.promised} promised, ${d.shown} shown at ${d.direction.at(-1)}; ` +
            `missing ${d.missing.length}, wrong content ${d.wrongContent.length}, lost at the sender ${d.lostAtSender.length}, ` +
            `out of order ${d.outOfOrder.length}, unknown ${d.unknown.length}, unpromised that arrived ${d.unpromisedArrived}; ` +
            `SENT at ${d.direction[0]} but not shown at ${d.direction.at(-1)} ${d.sentNotShown.length}`,
        );
        if (d.stuck.length) {
          lines.push(`    not SENT at the sender after settling: ${JSON.stringify(count(d.stuck.map((m) => `${m.state} ${m.failure ?? ""}`.trim())))}`);
        }
        if (d.missing.length) {
          lines.push(`    missing, state at the sender: ${JSON.stringify(stateCounts)}`);
          lines.push(
            `    first missing: ${d.missing.slice(0, 8).map((p) => `${p.text} ${p.id} ${states[p.id]?.state ?? "?"}`).join("; ")}`,
          );
        }
        if (d.markers.length) lines.push(`    not RECEIVED at the receiver: ${JSON.stringify(count(d.markers))}`);
        if (d.outOfOrder.length) {
          lines.push(`    out of order: ${d.outOfOrder.slice(0, 5).map((o) => `${o.text} after ${o.after}`).join("; ")}`);
        }
      }
      for (const d of doubled) {
        if (d.ids.length || d.texts.length) {
          lines.push(`  shown twice at ${d.side}: ${d.ids.length} ids, ${d.texts.length} texts: ${d.texts.slice(0, 5).map(([x, n]) => `${x} ×${n}`).join(", ")}`);
        }
      }
      for (const side of ["A", "B"]) {
        const codes = count(failures[side].map((f) => `${f.state} ${f.code}`));
        lines.push(`  inboundFailures at ${side}: ${failures[side].length} ${JSON.stringify(codes)}`);
      }
      for (const p of [a, b]) {
        if (p.conflicts.length) lines.push(`  ${p.name}: ${p.conflicts.length} sequence numbers recorded under two ids`);
        if (p.errors.length) lines.push(`  page errors at ${p.name}: ${p.errors.length}: ${[...new Set(p.errors)].slice(0, 3).join(" | ")}`);
      }
      const summary = lines.join("\n");
      console.log(summary);

      const results = new URL("../../test-results/", import.meta.url);
      mkdirSync(results, { recursive: true });
      writeFileSync(
        new URL("storm-report.json", results),
        JSON.stringify({ seed: SEED, reloads: RELOADS, rounds: ROUNDS, faults: FAULTS, kinds, stormMs, settleMs, settled, summary, log, directions, doubled, failures, missingStates }, null, 1),
      );
      for (const p of [a, b]) {
        await p.call((s) => globalThis.storm.render(s), summary);
        await saveScreenshot(p.page, `storm-${p.name}.png`);
      }
      assert.ok(!failed, summary);
    } finally {
      await setFaults({}).catch(() => {});
      await a.close();
      await b.close();
    }
  },
);
