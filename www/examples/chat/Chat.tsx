// A small chat: one Client for this browser's wallet, one conversation at a time. The React
// app (../react) renders it, and the Next.js app (../next) from a 'use client' module.
import { Client, type Conversation, isSdkError, type MessageInfo, type NodeState } from "e2ee-sdk";
import { type BaseWallet, Wallet } from "ethers";
import { type FormEvent, useEffect, useState } from "react";

/** The page's ?node= and ?peer= (read in effects: there is no location on a server). */
const param = (name: string) => new URLSearchParams(location.search).get(name);

/** This browser's wallet: a random one, its key kept in localStorage so it survives reloads. */
function savedWallet(): BaseWallet {
  const saved = localStorage.getItem("chat-wallet");
  const wallet = saved ? new Wallet(saved) : Wallet.createRandom();
  localStorage.setItem("chat-wallet", wallet.privateKey);
  return wallet;
}

/**
 * The wallet's client (it loads the wasm on first use). Its database is named after the
 * address: the key and the data belong together.
 */
function openClient(wallet: BaseWallet, signal: AbortSignal): Promise<Client> {
  const nodeUrl = param("node") ?? "http://127.0.0.1:5555";
  return Client.create({ signer: wallet, nodeUrl, dbName: `chat-${wallet.address}`, signal });
}

type Failure = { code: string; message: string };
const failure = (err: unknown): Failure =>
  isSdkError(err) ? { code: err.code, message: err.message } : { code: "ERROR", message: String(err) };

export function Chat({ title }: { title: string }) {
  const [client, setClient] = useState<Client | null>(null);
  const [error, setError] = useState<Failure | null>(null);
  const [peer, setPeer] = useState("");
  const [peerInput, setPeerInput] = useState("");
  const [chat, setChat] = useState<Conversation | null>(null);
  const [messages, setMessages] = useState<Map<string, MessageInfo>>(new Map());
  const [text, setText] = useState("");
  const [node, setNode] = useState<NodeState | null>(null);

  useEffect(() => {
    const fromUrl = param("peer");
    if (fromUrl) {
      setPeer(fromUrl);
      setPeerInput(fromUrl);
    }
  }, []);

  // One client while the component is mounted: created here, closed in the cleanup.
  // (StrictMode runs it twice in development: the first create is aborted or its client closed.)
  useEffect(() => {
    const abort = new AbortController();
    let opened: Client | null = null;
    openClient(savedWallet(), abort.signal).then(
      (c) => (abort.signal.aborted ? c.close() : setClient((opened = c))),
      (err) => abort.signal.aborted || setError(failure(err)),
    );
    return () => {
      abort.abort();
      opened?.close();
      setClient(null);
    };
  }, []);

  // The open conversation: its history, then what the stream says about it.
  useEffect(() => {
    if (!client || !peer) return;
    let active = true;
    const stream = client.stream(); // before reading the history, so nothing falls in between
    const update = (list: MessageInfo[]) =>
      setMessages((old) => new Map([...old, ...list.map((m) => [m.id, m] as const)]));
    (async () => {
      const conversation = await client.conversation(peer);
      const history = await conversation.messages();
      if (!active) return;
      setChat(conversation);
      setMessages(new Map(history.map((m) => [m.id, m])));
      for await (const event of stream) {
        if (event.type === "message" && event.message.conversationId === conversation.id) {
          update([event.message]);
        } else if (event.type === "node") {
          setNode(event); // lost or back: messages wait meanwhile
        } else if (event.type === "removed") {
          setMessages((old) => {
            const rest = new Map(old);
            rest.delete(event.id);
            return rest;
          });
        }
      }
    })().catch((err) => active && setError(failure(err)));
    return () => {
      active = false;
      stream.return();
      setChat(null);
      setMessages(new Map());
    };
  }, [client, peer]);

  const open = (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    setPeer(peerInput.trim());
  };
  const send = (event: FormEvent) => {
    event.preventDefault();
    if (!chat || !text) return;
    setText("");
    // The message appears through the stream once it is stored.
    chat.send(text).catch((err) => setError(failure(err)));
  };

  const sorted = [...messages.values()].sort((a, b) => a.sentAt - b.sentAt);
  return (
    <main>
      <h1>{title}</h1>
      <p>
        You are <code id="address">{client?.address ?? "…"}</code>
      </p>
      {error && (
        <p id="error" data-code={error.code}>
          {error.code}: {error.message}
        </p>
      )}
      <form onSubmit={open}>
        <input id="peer" placeholder="0x… peer address" value={peerInput} onChange={(e) => setPeerInput(e.target.value)} />
        <button id="open" type="submit">
          open
        </button>
      </form>
      {node?.state === "UNREACHABLE" && (
        <p id="node" data-code={node.code}>
          node unreachable ({node.code}): {node.message}; messages wait
        </p>
      )}
      {chat && (
        <>
          <h2 id="title">{chat.peerAddress}</h2>
          <ul id="messages">
            {sorted.map((m) => (
              <li key={m.id} data-state={m.state} data-sender={m.sender}>
                <span className="sender">{m.sender === client?.address ? "you" : m.sender.slice(0, 8)}</span>{" "}
                <span className="text">{m.text ?? `[${m.contentType}]`}</span>{" "}
                <span className="state">{m.state}</span>
              </li>
            ))}
          </ul>
          <form onSubmit={send}>
            <input id="text" value={text} onChange={(e) => setText(e.target.value)} />
            <button id="send" type="submit">
              send
            </button>
          </form>
        </>
      )}
    </main>
  );
}
