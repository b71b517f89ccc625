//! The TypeScript declarations of the plain objects the binding hands to JS and takes from it
//! (wasm-bindgen writes them into the generated `.d.ts`).

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &str = r#"
/** The wallet: ethers' and viem's signers have this shape. */
export interface Signer {
  /** The wallet address (`0x` + 40 hex digits, any case). */
  getAddress(): Promise<string>;
  /** An EIP-191 `personal_sign` signature over `message`, as 65-byte hex. */
  signMessage(message: string): Promise<string>;
}

/** Options of `Client.create`. */
export interface ClientOptions {
  /** The wallet; asked to sign once per installation (and to revoke one). */
  signer: Signer;
  /** Base URL of a node serving the XMTP message API v1, e.g. `"http://127.0.0.1:5555"`:
   * an absolute `http:` or `https:` URL (anything else is `INVALID_ARGUMENT`). Or a non-empty
   * list of such URLs, replicas serving the same data: requests go to one until it fails (no
   * answer, or a 5xx), then are retried once on the next, which is used from then on. */
  nodeUrl: string | string[];
  /** Name of the IndexedDB database: one per account and browser profile. */
  dbName: string;
  /** How old an account's installation list may be before it is fetched again (ms, default 300000). */
  refreshThresholdMs?: number;
  /** A 32-byte key that seals keys, messages and payloads at rest, never stored (derive it from a passkey's PRF or a passphrase); by default the SDK keeps one wrapped in IndexedDB, which a copy of the profile can unwrap. A database sealed under another key rejects with `WRONG_PICKLE_KEY`. */
  pickleKey?: Uint8Array;
  /** How long one request to the node may take, in milliseconds (default 15000). */
  requestTimeoutMs?: number;
  /** Drop each payload's bytes once the node acknowledged it, keeping its hash (default false). */
  deleteSentPayloads?: boolean;
  /** How long the wallet may take to answer, in milliseconds, before the call fails with `SIGNER_TIMEOUT` (default 300000). */
  signerTimeoutMs?: number;
  /** Cancels `create` (code `ABORTED`), including a wait for the wallet; later calls ignore it. */
  signal?: AbortSignal;
}

/** One installation of an account. */
export interface InstallationInfo {
  id: string;
  /** The account, lower-case. */
  address: string;
  state: "UNINITIALIZED" | "SESSION_CREATED";
  /** When the wallet link expires (ms since 1970). */
  expiresAt: number;
  isThisInstallation: boolean;
}

/** Why a refresh refused an entry of an account's contact topic. */
export type BundleErrorCode =
  | "MALFORMED" | "OVERSIZED" | "INVALID_ADDRESS" | "ADDRESS_MISMATCH" | "SIGNATURE_INVALID"
  | "KEY_MISMATCH" | "FALLBACK_SIGNATURE_INVALID" | "BUNDLE_EXPIRED" | "INSTALLATION_REVOKED"
  | "BUNDLE_VERSION" | "BUNDLE_RANGE" | "INSTALLATION_CLAIMED" | "TOO_MANY_INSTALLATIONS";

/** An entry the last refresh refused. */
export interface RejectedBundle {
  installationId: string | null;
  code: BundleErrorCode;
  reason: string;
}

/** A message as stored here. */
export interface MessageInfo {
  id: string;
  conversationId: string;
  /** Lower-case address of the sender. */
  sender: string;
  /** The sender's timestamp (ms since 1970). */
  sentAt: number;
  state: MessageState;
  contentType: string;
  content: Uint8Array;
  /** The content as text, for `text/plain` messages (what `send("…")` sends); else `null`. */
  text: string | null;
  /**
   * Why it failed, when `state` is `"FAILED"` or `"UNDECRYPTABLE"`; for a message waiting to
   * go out (`UNINITIALIZED`, `COMMITTED`) while the node is unreachable, why it waits
   * (`"NETWORK: waiting for the node: …"`), and `null` again once the node is back.
   */
  failure: string | null;
}

/**
 * Where a message is. Sent by this account: `UNINITIALIZED` (stored, not yet encrypted),
 * `COMMITTED` (encrypted, queued), `SENT` (the node has it), `FAILED`. From the peer:
 * `RECEIVED`, or `UNDECRYPTABLE`: a marker for a payload that could not be decrypted; the
 * sender was asked to re-send, and the re-sent message replaces the marker. Copies of this
 * account's messages from its other installations arrive as `SENT`.
 */
export type MessageState =
  | "UNINITIALIZED" | "COMMITTED" | "SENT" | "FAILED" | "RECEIVED" | "UNDECRYPTABLE";

/** Options of `conversation.messages`. */
export interface MessagesOptions {
  /** At most this many: the newest ones before `before`, returned oldest first. */
  limit?: number;
  /** Only messages sent before this time (ms since 1970, exclusive). */
  before?: number;
}

/** A conversation as listed by `client.conversations()`. */
export interface ConversationInfo {
  id: string;
  /** The other account, lower-case. */
  peerAddress: string;
  /** `UNINITIALIZED` until a message went out or an invite came in. */
  state: "UNINITIALIZED" | "INVITED";
  /** When it was created here (ms since 1970). */
  createdAt: number;
}

/** Why a received payload was not shown as a message. */
export type InboundFailureCode =
  | "MALFORMED" | "OVERSIZED" | "UNKNOWN_SENDER" | "FORGED_SENDER" | "UNKNOWN_SESSION"
  | "BAD_MAC" | "REPLAY" | "WRONG_CONVERSATION" | "BAD_NOTICE" | "PROCESSING_FAILED"
  | "NON_CANONICAL" | "BAD_SIGNATURE" | "SENDER_EXPIRED" | "SENDER_REVOKED";

/** A received payload that failed (`FAILED`: the sender was asked to re-send) or was
 * refused (`REJECTED`). */
export interface InboundFailureInfo {
  /** Hex sha-256 of the payload. */
  hash: string;
  state: "FAILED" | "REJECTED";
  code: InboundFailureCode;
  detail: string | null;
  /** The installation it claimed to come from, if it could be read. */
  senderInstallationId: string | null;
  /** When it arrived here (ms since 1970). */
  receivedAt: number;
}

/**
 * Whether the node answers as a node, as the client's processors last found it
 * (`client.nodeState`, and `node` events on `client.stream()` when it changes).
 * `UNKNOWN`: nothing asked yet since `Client.create`. `UNREACHABLE`: no answer (`NETWORK`),
 * an error answer that is not a node's or a node saying it is unavailable (`NODE_REJECTED`),
 * or an answer that is not the API's (`PROTOCOL`); messages wait until it is `REACHABLE`.
 */
export interface NodeState {
  /** The same object is the streams' `node` event. */
  type: "node";
  state: "UNKNOWN" | "REACHABLE" | "UNREACHABLE";
  /** Why it is unreachable; `null` otherwise. */
  code: "NETWORK" | "NODE_REJECTED" | "PROTOCOL" | null;
  /** The failure, readable; `null` unless unreachable. */
  message: string | null;
  /** When this state began (ms since 1970). */
  at: number;
}

/** What `client.probeNode()` found: an envelope published and read back. */
export interface NodeProbe {
  topic: string;
  published: number;
  readBack: number;
}
"#;
