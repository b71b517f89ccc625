// The examples' app, the same for every bundler: a random wallet sends one message to ?peer=
// through the node at ?node=, and the page shows its state as it changes.
import init, { Client } from "e2ee-sdk";
import { Wallet } from "ethers";

const params = new URLSearchParams(location.search);
const status = document.getElementById("status");
const show = (state, text) => {
  status.dataset.state = state;
  status.textContent = text;
};

try {
  await init();
  const signer = Wallet.createRandom();
  const client = await Client.create({
    signer,
    nodeUrl: params.get("node") ?? "http://127.0.0.1:5555",
    dbName: `example-${signer.address}`,
  });
  const chat = await client.conversation(params.get("peer"));
  const stream = client.stream();
  const id = await chat.send(`hello from the ${document.title}`);
  show("stored", `message ${id} stored`);
  for await (const event of stream) {
    if (event.type === "message" && event.message.id === id) {
      show(event.message.state.toLowerCase(), `message ${id}: ${event.message.state}`);
      if (event.message.state === "SENT") break;
    }
  }
} catch (err) {
  show("error", `${err.code ?? "ERROR"}: ${err.message}`);
}
