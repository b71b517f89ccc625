// The bench's raw baselines: what IndexedDB and the node cost with no SDK around them, measured
// in the same page and run as the SDK figures they are set against.
//
// The store copies the SDK's `messages` store (key path `id`, the same two compound indexes:
// see src/store/schema.rs) and its records carry the same fields, so a put writes the same
// index entries. Transactions pass no options: the SDK's `begin` (src/store/idb_store.rs)
// opens them with the default durability, and so must the baseline.

const STORE = "messages";

const request = (req) =>
  new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });

const done = (tx) =>
  new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error("transaction aborted"));
  });

/** Opens (creating) the raw database `name` with the SDK's messages store. */
export function openRaw(name) {
  const open = indexedDB.open(name, 1);
  open.onupgradeneeded = () => {
    const store = open.result.createObjectStore(STORE, { keyPath: "id" });
    store.createIndex("by_state_time", ["state", "sent_at_ms"]);
    store.createIndex("by_conversation_time", ["convo_id", "sent_at_ms"]);
  };
  return request(open);
}

/** Deletes every database of this origin (the last run's, the SDK's and the raw ones). */
export async function deleteAllDatabases() {
  for (const { name } of await indexedDB.databases()) await request(indexedDB.deleteDatabase(name));
}

/**
 * A message record like the SDK's (src/store/records.rs `MessageRecord`): `idLength` and
 * `textLength` are those of the SDK's own, so the stored sizes match.
 */
export function record(i, { idLength, textLength, convo = "c".repeat(64), at = Date.now() }) {
  return {
    id: `${i}`.padStart(idLength, "0"),
    convo_id: convo,
    sender_address: `0x${"a".repeat(40)}`,
    sent_at_ms: at + i,
    state: "UNINITIALIZED",
    content_type: "text/plain",
    content: new TextEncoder().encode("x".repeat(textLength)),
    failure: null,
    resends: 0,
  };
}

/** `count` puts, each in its own readwrite transaction, each awaited: ms per put. */
export async function putsAwaited(db, count, shape) {
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const tx = db.transaction(STORE, "readwrite");
    tx.objectStore(STORE).put(record(i, shape));
    await done(tx);
  }
  return (performance.now() - started) / count;
}

/** `count` one-put readwrite transactions started at once: transactions per second. */
export async function putsTogether(db, count, shape) {
  const started = performance.now();
  const all = [];
  for (let i = 0; i < count; i++) {
    const tx = db.transaction(STORE, "readwrite");
    tx.objectStore(STORE).put(record(1_000_000 + i, shape));
    all.push(done(tx));
  }
  await Promise.all(all);
  return count / ((performance.now() - started) / 1000);
}

/** `count` records in one readwrite transaction: records per second. */
export async function bulkPut(db, count, shape) {
  const started = performance.now();
  const tx = db.transaction(STORE, "readwrite");
  const store = tx.objectStore(STORE);
  for (let i = 0; i < count; i++) store.put(record(2_000_000 + i, shape));
  await done(tx);
  return count / ((performance.now() - started) / 1000);
}

/** `count` readonly transactions of one get each, one after another: transactions per second. */
export async function getsAwaited(db, count, shape) {
  const id = record(2_000_000, shape).id;
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const tx = db.transaction(STORE, "readonly");
    await request(tx.objectStore(STORE).get(id));
    await done(tx);
  }
  return count / ((performance.now() - started) / 1000);
}

/**
 * `count` readwrite transactions of four puts each, one transaction after another: the four
 * puts fired together (`together`) or each awaited before the next. Transactions per second.
 */
export async function fourPuts(db, count, shape, together) {
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const tx = db.transaction(STORE, "readwrite");
    const store = tx.objectStore(STORE);
    for (let j = 0; j < 4; j++) {
      const put = store.put(record(3_000_000 + i * 4 + j, shape));
      if (!together) await request(put);
    }
    await done(tx);
  }
  return count / ((performance.now() - started) / 1000);
}

/**
 * The newest `limit` records of one conversation through its index (a reverse cursor): the
 * raw read under `messages({ limit })`. Milliseconds.
 */
export async function newestByIndex(db, convo, limit) {
  const started = performance.now();
  const tx = db.transaction(STORE, "readonly");
  const range = IDBKeyRange.bound([convo, 0], [convo, Number.MAX_SAFE_INTEGER]);
  const cursor = tx.objectStore(STORE).index("by_conversation_time").openCursor(range, "prev");
  const rows = [];
  await new Promise((resolve, reject) => {
    cursor.onsuccess = () => {
      const at = cursor.result;
      if (at && rows.length < limit) {
        rows.push(at.value);
        at.continue();
      } else resolve();
    };
    cursor.onerror = () => reject(cursor.error);
  });
  await done(tx);
  return performance.now() - started;
}

/**
 * Publishes `count` envelopes of `size` random bytes to a topic of its own on the node, `batch`
 * per request, each request awaited (as the SDK's delivery does): milliseconds in all.
 */
export async function publishRaw(nodeUrl, count, size, batch) {
  const topic = `/xmtp/0/bench-raw-${crypto.randomUUID()}/proto`;
  const base = BigInt(Date.now()) * 1_000_000n;
  const envelope = (i) => {
    const bytes = crypto.getRandomValues(new Uint8Array(size));
    let binary = "";
    for (const b of bytes) binary += String.fromCharCode(b);
    return { contentTopic: topic, timestampNs: String(base + BigInt(i)), message: btoa(binary) };
  };
  const bodies = [];
  for (let i = 0; i < count; i += batch) {
    const envelopes = [];
    for (let j = i; j < Math.min(count, i + batch); j++) envelopes.push(envelope(j));
    bodies.push(JSON.stringify({ envelopes }));
  }
  // The bodies are made before the clock starts: the SDK's are stored, ready to go.
  const started = performance.now();
  for (const body of bodies) {
    const response = await fetch(`${nodeUrl}/message/v1/publish`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body,
    });
    if (!response.ok) throw new Error(`raw publish: ${response.status}`);
  }
  return performance.now() - started;
}
