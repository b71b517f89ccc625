// The demo chat: loads the SDK from /pkg (the wasm-pack output), opens a client for the
// visitor's wallet on the node given by ?node= (default: the demo's devnode on
// 127.0.0.1:5555; a node not on this machine only if the visitor confirms it), and lets the
// visitor chat with any address.
//
// Everything from the network, the SDK or the URL is put on the page with textContent, never
// as HTML.
import init, { Client, version } from "./pkg/index.js";
import { BrowserProvider, Wallet } from "./vendor/ethers/ethers.min.js";

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const show = (id, text) => {
  $(id).textContent = text;
};

/** Whether `url` is an http(s) URL of this machine (a loopback host). */
function isLoopback(url) {
  try {
    const { protocol, hostname } = new URL(url);
    const web = protocol === "http:" || protocol === "https:";
    return web && ["127.0.0.1", "localhost", "[::1]"].includes(hostname);
  } catch {
    return false;
  }
}

/**
 * The node: ?node= if it is on this machine, or if the visitor confirms another (a crafted
 * link must not quietly route their messages through a node of its choosing: a node sees who
 * writes to whom, and when); null when they decline. A comma-separated list is a node's
 * replicas, which the client fails over between.
 */
function chooseNode() {
  const asked = params.get("node") ?? "http://127.0.0.1:5555";
  const urls = asked.split(",").map((url) => url.trim());
  if (urls.every(isLoopback)) return urls.length === 1 ? urls[0] : urls;
  const question =
    `This link asks the demo to use the node ${asked}, which is not on this machine. ` +
    "That node would see who you write to and when. Use it?";
  return confirm(question) ? (urls.length === 1 ? urls[0] : urls) : null;
}

/** Where the throwaway wallet's private key is kept. */
const WALLET_KEY = "e2ee-sdk-demo:wallet";

/**
 * The visitor's wallet: the browser's injected wallet when there is one (unless
 * ?wallet=local), otherwise a throwaway: a random ethers wallet kept in this page's storage.
 */
async function visitorWallet() {
  if (globalThis.ethereum && params.get("wallet") !== "local") {
    return { signer: await new BrowserProvider(globalThis.ethereum).getSigner(), throwaway: false };
  }
  const saved = localStorage.getItem(WALLET_KEY);
  const wallet = saved ? new Wallet(saved) : Wallet.createRandom();
  localStorage.setItem(WALLET_KEY, wallet.privateKey);
  return { signer: wallet, throwaway: true };
}

/**
 * Forgets the throwaway wallet, after asking: its key and this profile's database of it
 * (installation, sessions, messages) are deleted, and the reload makes a new one.
 */
async function forgetWallet(dbName) {
  const question =
    "Forget this wallet? Its key and its messages are deleted from this browser, " +
    "and nobody can get them back.";
  if (!confirm(question)) return;
  client?.close();
  localStorage.removeItem(WALLET_KEY);
  if (dbName) {
    // Another tab of this profile may hold the database open; the key is gone either way.
    const gaveUp = new Promise((resolve) => setTimeout(resolve, 5_000));
    await Promise.race([Client.deleteLocalData(dbName).catch(console.warn), gaveUp]);
  }
  location.reload();
}

/** What each state is called on the page. */
const STATE_LABELS = {
  UNINITIALIZED: "pending",
  COMMITTED: "committed",
  SENT: "sent",
  FAILED: "failed",
  RECEIVED: "received",
  UNDECRYPTABLE: "could not decrypt; asked the sender to re-send",
};

const short = (address) => `${address.slice(0, 6)}…${address.slice(-4)}`;

let client;
/** The open conversation. */
let current = null;

/** Shows `message` in the open conversation, in sender-timestamp order (or updates it). */
function showMessage(message) {
  const list = $("messages");
  const id = `m-${message.id}`;
  let item = document.getElementById(id);
  if (!item) {
    item = document.createElement("li");
    item.id = id;
    for (const part of ["sender", "text", "state"]) {
      const span = document.createElement("span");
      span.className = part;
      item.append(span);
    }
    const later = [...list.children].find((li) => Number(li.dataset.sentAt) > message.sentAt);
    list.insertBefore(item, later ?? null);
  }
  const mine = message.sender === client.address;
  item.dataset.sentAt = String(message.sentAt);
  item.dataset.state = message.state;
  item.classList.toggle("mine", mine);
  item.querySelector(".sender").textContent = mine ? "you" : short(message.sender);
  item.querySelector(".text").textContent =
    message.state === "UNDECRYPTABLE"
      ? "🔒 unreadable message"
      : (message.text ?? `[${message.contentType}, ${message.content.length} bytes]`);
  item.querySelector(".state").textContent = STATE_LABELS[message.state] ?? message.state;
  item.title = message.failure ?? "";
}

async function showConversations() {
  const list = $("conversations");
  const conversations = await client.conversations();
  list.replaceChildren(
    ...conversations.map((c) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = short(c.peerAddress);
      button.title = c.peerAddress;
      button.dataset.peer = c.peerAddress;
      button.classList.toggle("open", c.id === current?.id);
      button.addEventListener("click", () => openConversation(c.peerAddress).catch(fail));
      item.append(button);
      return item;
    }),
  );
}

async function openConversation(peer) {
  current = await client.conversation(peer.trim());
  show("title", current.peerAddress);
  $("messages").replaceChildren();
  for (const message of await current.messages()) showMessage(message);
  $("compose").hidden = false;
  $("text").focus();
  await showConversations();
}

/** Follows the client's stream: new messages and state changes as they happen. */
async function follow() {
  for await (const event of client.stream()) {
    if (event.type === "node") {
      // The node was lost or is back: say so where the probe's answer is.
      const reachable = event.state === "REACHABLE";
      show("node", reachable ? `${nodeUrl}: reachable` : `${nodeUrl}: ${event.code}: ${event.message} (messages wait in the queue)`);
      $("node").dataset.state = reachable ? "ok" : "error";
    } else if (event.type === "removed") {
      document.getElementById(`m-${event.id}`)?.remove();
    } else if (event.message.conversationId === current?.id) {
      showMessage(event.message);
    } else {
      await showConversations();
    }
  }
}

/** Publishes and reads back one envelope; the chat works (queued) whatever the answer. */
async function probeNode() {
  show("node", `probing ${nodeUrl}…`);
  try {
    const probe = await client.probeNode();
    show("node", `${nodeUrl}: published ${probe.published}, read back ${probe.readBack} on ${probe.topic}`);
    $("node").dataset.state = probe.readBack === probe.published ? "ok" : "error";
  } catch (err) {
    show("node", `${nodeUrl}: ${err.code}: ${err.message} (messages wait in the queue)`);
    $("node").dataset.state = "error";
  }
}

function fail(err) {
  show("error", `${err.code ?? "ERROR"}: ${err.message}`);
}

const nodeUrl = chooseNode();
try {
  if (nodeUrl === null) {
    show("node", `not used: ${params.get("node")} is not on this machine`);
    $("node").dataset.state = "refused";
    throw new Error(`not using the node ${params.get("node")}: it is not on this machine`);
  }
  await init();
  show("wasm", `loaded, SDK ${version()}`);
  const { signer, throwaway } = await visitorWallet();
  const address = (await signer.getAddress()).toLowerCase();
  const dbName = `e2ee-sdk-demo:${address}`;
  show("wallet", throwaway ? "throwaway, kept in this page's storage" : "your browser's wallet");
  if (throwaway) {
    $("throwaway").hidden = false;
    $("forget").addEventListener("click", () => forgetWallet(dbName).catch(fail));
  }
  client = await Client.create({ signer, nodeUrl, dbName });
  show("db", `${client.dbName}, schema version ${client.schemaVersion}`);
  show("address", client.address);
  show("installation", client.installationId);
  show("key", client.identityKey);
  $("status").dataset.state = "ok";
  probeNode();

  $("chat").hidden = false;
  $("open").addEventListener("submit", (event) => {
    event.preventDefault();
    openConversation($("peer").value).catch(fail);
  });
  $("compose").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("text").value;
    $("text").value = "";
    // The message shows up through the stream as soon as it is stored.
    current.send(text).catch(fail);
  });
  follow().catch(fail);
  await showConversations();
} catch (err) {
  fail(err);
  $("status").dataset.state = "error";
}
