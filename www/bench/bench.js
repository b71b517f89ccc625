// The bench page's phases (driven by run.mjs through `globalThis.bench`). Each phase runs in a
// freshly loaded page, measures SDK figures through the public JS API only, and measures their
// raw baselines in the same page, then returns plain numbers. Profiles are clients of fresh
// wallets with their own `dbName`s; every database is deleted when a phase starts.
import init, { Client, OlmBench } from "./pkg/index.js";
import { Wallet } from "/vendor/ethers/ethers.min.js";
import * as raw from "./raw.js";

const params = new URLSearchParams(location.search);
const nodeUrl = params.get("node");
/** devnode's admin token (`cargo xtask bench` starts it with one), for switching its faults. */
const adminToken = params.get("admin");
/** The text of every message: about 100 bytes, like the crypto baseline's. */
const TEXT_LENGTH = 100;
/** The length of the SDK's message ids (`sameShape` checks it). */
const ID_LENGTH = 64;
const text = (i) => `bench message ${i} `.padEnd(TEXT_LENGTH, "x");
const seconds = (ms) => ms / 1000;

let wasm;
let profiles = 0;

/** A fresh wallet; `create(wallet)` opens a client of it with a database of its own. */
const wallet = () => Wallet.createRandom();

async function create(signer, dbName = `bench-${++profiles}-${signer.address}`) {
  return Client.create({ signer, nodeUrl, dbName });
}

/** A peer whose `installations` installations are on the node (their clients closed again). */
async function peer(installations = 1) {
  const signer = wallet();
  for (let i = 0; i < installations; i++) (await create(signer)).close();
  return signer.address.toLowerCase();
}

async function faults(config) {
  const response = await fetch(`${nodeUrl}/devnode/faults`, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${adminToken}` },
    body: JSON.stringify(config),
  });
  if (!response.ok) throw new Error(`devnode refused the faults: ${response.status}`);
}

/**
 * Follows one conversation of `client`: the latest state of each of its messages, from the
 * stream and, read once after subscribing, the stored ones (so nothing that changed before the
 * subscription is missed). `until(state, count)` resolves once `count` messages are in `state`.
 */
async function follow(client, conversation) {
  const states = new Map();
  const counts = {};
  let waiters = [];
  const set = (m) => {
    if (m.conversationId !== conversation.id) return;
    const old = states.get(m.id);
    if (old === m.state) return;
    if (old) counts[old]--;
    states.set(m.id, m.state);
    counts[m.state] = (counts[m.state] ?? 0) + 1;
    waiters = waiters.filter((w) => !w());
  };
  const events = client.stream();
  (async () => {
    for await (const event of events) if (event.type === "message") set(event.message);
  })().catch((err) => console.error("bench stream", err));
  for (const m of await conversation.messages()) set(m);
  return {
    counts,
    until(state, count) {
      return new Promise((resolve) => {
        const check = () => (counts[state] ?? 0) >= count && (resolve(), true);
        if (!check()) waiters.push(check);
      });
    },
  };
}

/** Sends `count` texts: each awaited before the next, or all called at once. The ids. */
async function send(conversation, count, together, from = 0) {
  if (together) return Promise.all(Array.from({ length: count }, (_, i) => conversation.send(text(from + i))));
  const ids = [];
  for (let i = 0; i < count; i++) ids.push(await conversation.send(text(from + i)));
  return ids;
}

/** A sender's client, its conversation with `to`, and what it follows. */
async function sender(to, signer = wallet()) {
  const client = await create(signer);
  const conversation = await client.conversation(to);
  return { client, conversation, watch: await follow(client, conversation) };
}

/**
 * A raw database, and the shape of its records: the SDK's message ids are 64 characters
 * (checked against a real message by `sameShape`) and its content the text's bytes.
 */
async function rawDb() {
  const shape = { idLength: ID_LENGTH, textLength: TEXT_LENGTH };
  return { db: await raw.openRaw(`bench-raw-${crypto.randomUUID()}`), shape };
}

/** Fails if the SDK's stored message `id` differs in size from the raw records. */
async function sameShape(client, id, shape) {
  const real = await client.message(id);
  if (real.id.length !== shape.idLength || real.content.length !== shape.textLength) {
    throw new Error(`the raw records (${JSON.stringify(shape)}) no longer match the SDK's: id ${real.id.length}, content ${real.content.length}`);
  }
}

const phases = {
  /** 1: awaited sends in a row, against one raw awaited put per transaction. */
  async awaited({ sends }) {
    // The baseline first, the disk to itself (the SDK's processor goes on after the sends).
    const { db, shape } = await rawDb();
    const putMs = await raw.putsAwaited(db, sends, shape);
    const a = await sender(await peer());
    const started = performance.now();
    const ids = await send(a.conversation, sends, false);
    const sendMs = (performance.now() - started) / sends;
    await sameShape(a.client, ids[0], shape);
    return { sendMs, putMs };
  },

  /** 2: sends all called at once, against as many one-put transactions started at once. */
  async together({ sends }) {
    const { db, shape } = await rawDb();
    const putsTogetherPerS = await raw.putsTogether(db, sends, shape);
    const a = await sender(await peer());
    const started = performance.now();
    const ids = await send(a.conversation, sends, true);
    const commitsPerS = sends / seconds(performance.now() - started);
    await sameShape(a.client, ids[0], shape);
    return { commitsPerS, putsTogetherPerS };
  },

  /** 3: sends to SENT, to a peer of one installation and to a peer of three. */
  async toSent({ sends }) {
    const out = {};
    for (const installations of [1, 3]) {
      const a = await sender(await peer(installations));
      const started = performance.now();
      await send(a.conversation, sends, true);
      await a.watch.until("SENT", sends);
      out[`sentPerS${installations}`] = sends / seconds(performance.now() - started);
      a.client.close();
    }
    return out;
  },

  /**
   * 4, first half: payloads queued while the node refuses publishes (encrypted, COMMITTED,
   * not sent). The driver then reloads the page and runs `resume` on the same database.
   */
  async queue({ sends }) {
    const to = await peer();
    const signer = wallet();
    const a = await sender(to, signer);
    await faults({ publishFailRate: 1 });
    try {
      await send(a.conversation, sends, true);
      await a.watch.until("COMMITTED", sends);
    } finally {
      a.client.close();
      await faults({});
    }
    return { key: signer.privateKey, dbName: a.client.dbName, to };
  },

  /**
   * 4, after the reload, the node back: from `create` resolved to all queued payloads SENT;
   * against raw publishes of as many envelopes of the same size, 50 a request.
   */
  async resume({ sends, key, dbName, to }) {
    const started = performance.now();
    const client = await create(new Wallet(key), dbName);
    const resumed = performance.now();
    const watch = await follow(client, await client.conversation(to));
    await watch.until("SENT", sends);
    const resumeMs = performance.now() - resumed;
    const size = await envelopeSize(client, to);
    return {
      resumeMsgPerS: sends / seconds(resumeMs),
      createMs: resumed - started,
      envelopeBytes: size,
      rawPublishPerS: sends / seconds(await raw.publishRaw(nodeUrl, sends, size, 50)),
    };
  },

  /** 5: messages waiting on the node for a closed receiver, from its `create` to `messages()`. */
  async receive({ sends }) {
    const signer = wallet();
    const b = await create(signer);
    const bAddress = b.address;
    b.close();
    const a = await sender(bAddress);
    await send(a.conversation, sends, true);
    await a.watch.until("SENT", sends);
    a.client.close();
    const started = performance.now();
    const client = await create(signer, b.dbName);
    const conversation = await client.conversation(a.client.address);
    const watch = await follow(client, conversation);
    await watch.until("RECEIVED", sends);
    const held = (await conversation.messages()).length;
    if (held < sends) throw new Error(`the receiver holds ${held} of ${sends}`);
    return { receiveMsgPerS: sends / seconds(performance.now() - started) };
  },

  /** 6: both open, sends awaited in a row until the last is shown at the receiver. */
  async endToEnd({ sends }) {
    const signerB = wallet();
    const b = await create(signerB);
    const a = await sender(b.address);
    const bWatch = await follow(b, await b.conversation(a.client.address));
    const started = performance.now();
    await send(a.conversation, sends, false);
    const resolvedMs = performance.now() - started;
    await bWatch.until("RECEIVED", sends);
    return { endToEndMs: performance.now() - started, sendsResolvedMs: resolvedMs };
  },

  /**
   * 7 and 8: the first page of 50 once the conversation holds `history` messages (median of
   * five reads, the sender idle), against the same read through the raw index; then the JS
   * heap and the wasm memory after `total` messages, against the same with the client open
   * before its first message.
   */
  async history({ history, total }) {
    const a = await sender(await peer());
    const before = await memory();
    const ids = await send(a.conversation, history, true);
    await a.watch.until("SENT", history);
    const pageMs = await median(5, () => a.conversation.messages({ limit: 50 }));
    const { db, shape } = await rawDb();
    await sameShape(a.client, ids[0], shape);
    const convo = "c".repeat(64);
    const tx = db.transaction("messages", "readwrite");
    for (let i = 0; i < history; i++) tx.objectStore("messages").put(raw.record(i, { ...shape, convo }));
    await new Promise((resolve) => (tx.oncomplete = resolve));
    const rawPageMs = await median(5, () => raw.newestByIndex(db, convo, 50));
    const out = { pageMs, rawPageMs };
    if (total > 0) {
      for (let sent = history; sent < total; sent += 1000) {
        await send(a.conversation, Math.min(1000, total - sent), true, sent);
      }
      await a.watch.until("SENT", total);
      const after = await memory();
      Object.assign(out, { heapMb: after.heapMb, wasmMb: after.wasmMb, heapBeforeMb: before.heapMb, wasmBeforeMb: before.wasmMb });
    }
    return out;
  },

  /** The raw IndexedDB baselines and bare Olm, with no SDK figure beside them. */
  async baselines({ bulk, gets, fourTx, olm }) {
    const { db, shape } = await rawDb();
    const out = {
      bulkPerS: await raw.bulkPut(db, bulk, shape),
      getTxPerS: await raw.getsAwaited(db, gets, shape),
      fourTogetherTxPerS: await raw.fourPuts(db, fourTx, shape, true),
      fourAwaitedTxPerS: await raw.fourPuts(db, fourTx, shape, false),
    };
    const olmBench = new OlmBench();
    // Untimed first: the wasm's first calls run before the engine has optimised them.
    olmBench.encrypt(50, TEXT_LENGTH);
    olmBench.decrypt();
    const encryptStarted = performance.now();
    olmBench.encrypt(olm, TEXT_LENGTH);
    const encryptMs = performance.now() - encryptStarted;
    const decryptStarted = performance.now();
    olmBench.decrypt();
    const decryptMs = performance.now() - decryptStarted;
    return { ...out, olmEncryptUs: (encryptMs * 1000) / olm, olmDecryptUs: (decryptMs * 1000) / olm };
  },
};

/** The median of `times` timings of `read`, in ms. */
async function median(times, read) {
  const all = [];
  for (let i = 0; i < times; i++) {
    const started = performance.now();
    await read();
    all.push(performance.now() - started);
  }
  return all.sort((x, y) => x - y)[Math.floor(times / 2)];
}

/** The JS heap (after a collection, through the driver's CDP binding) and the wasm memory. */
async function memory() {
  const heap = await globalThis.benchHeap();
  return { heapMb: heap / 2 ** 20, wasmMb: wasm.memory.buffer.byteLength / 2 ** 20 };
}

/** The size in bytes of the payloads `client` published to `to`'s installation. */
async function envelopeSize(client, to) {
  const [installation] = await client.installations(to);
  const response = await fetch(`${nodeUrl}/message/v1/query`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ contentTopics: [`/xmtp/0/inbox-${installation.id}/proto`], pagingInfo: { limit: 1 } }),
  });
  const { envelopes } = await response.json();
  return atob(envelopes[0].message).length;
}

globalThis.bench = {
  /**
   * Runs one phase; its figures (numbers), or throws. Every database is deleted first, but
   * before `resume`, which goes on with the database `queue` left.
   */
  async run(name, params) {
    wasm ??= await init();
    if (name !== "resume") await raw.deleteAllDatabases();
    return phases[name](params);
  },
};
document.getElementById("status").textContent = "ready";
