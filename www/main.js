// The demo page: loads the SDK from /pkg (the wasm-pack output), opens a client for the
// visitor's wallet and probes the node given by ?node= (default: the demo's devnode on
// 127.0.0.1:5555).
import init, { Client, version } from "./pkg/e2ee_sdk.js";
import { Wallet } from "./vendor/ethers/ethers.min.js";

/** The visitor's wallet: a random ethers wallet kept in this page's storage. */
function demoWallet() {
  const saved = localStorage.getItem("e2ee-sdk-demo:wallet");
  const wallet = saved ? new Wallet(saved) : Wallet.createRandom();
  localStorage.setItem("e2ee-sdk-demo:wallet", wallet.privateKey);
  return wallet;
}

const nodeUrl = new URLSearchParams(location.search).get("node") ?? "http://127.0.0.1:5555";
const status = document.getElementById("status");
// textContent, never innerHTML: whatever the node or the SDK says is shown as text.
const show = (id, text) => {
  document.getElementById(id).textContent = text;
};

try {
  await init();
  show("wasm", `loaded, SDK ${version()}`);
  const client = await Client.create({ signer: demoWallet(), nodeUrl, dbName: "e2ee-sdk-demo" });
  show("db", `${client.dbName}, schema version ${client.schemaVersion}`);
  show("address", client.address);
  show("installation", client.installationId);
  show("key", client.identityKey);
  show("node", `probing ${nodeUrl}…`);
  const probe = await client.probeNode();
  show("node", `${nodeUrl}: published ${probe.published}, read back ${probe.readBack} on ${probe.topic}`);
  status.dataset.state = probe.readBack === probe.published ? "ok" : "error";
} catch (err) {
  show("error", `${err.code ?? "ERROR"}: ${err.message}`);
  status.dataset.state = "error";
}
