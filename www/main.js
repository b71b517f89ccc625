// The demo chat: loads the SDK from /pkg (the wasm-pack output), opens a client for the
// visitor's wallet on the node given by ?node= (default: the demo's devnode on
// 127.0.0.1:5555), and lets the visitor chat with any address.
//
// Everything from the network or the SDK is put on the page with textContent, never as HTML.
import init, { Client, version } from "./pkg/index.js";
import { BrowserProvider, Wallet } from "./vendor/ethers/ethers.min.js";

const params = new URLSearchParams(location.search);
const nodeUrl = params.get("node") ?? "http://127.0.0.1:5555";
const $ = (id) => document.getElementById(id);
const show = (id, text) => {
  $(id).textContent = text;
};

/**
 * The visitor's wallet: the browser's injected wallet when there is one (unless
 * ?wallet=local), otherwise a random ethers wallet kept in this page's storage.
 */
async function visitorWallet() {
  if (globalThis.ethereum && params.get("wallet") !== "local") {
    return new BrowserProvider(globalThis.ethereum).getSigner();
  }
  const key = "e2ee-sdk-demo:wallet";
  const saved = localStorage.getItem(key);
  const wallet = saved ? new Wallet(saved) : Wallet.createRandom();
  localStorage.setItem(key, wallet.privateKey);
  return wallet;
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

try {
  await init();
  show("wasm", `loaded, SDK ${version()}`);
  const signer = await visitorWallet();
  const address = (await signer.getAddress()).toLowerCase();
  client = await Client.create({ signer, nodeUrl, dbName: `e2ee-sdk-demo:${address}` });
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
