// devnode against web pages that are not ours: a page on another origin, and a page whose
// host name was made to resolve to 127.0.0.1 (DNS rebinding). Both are real origins to
// Chromium: Playwright serves their documents, and `--host-resolver-rules` points the rebound
// name at the loopback address, so their requests to devnode go over the network.
// Run by `cargo xtask test` (DEMO_URL with ?node=devnode, DEVNODE_ADMIN_TOKEN).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { launch, nodeUrl, readFaults, setFaults } from "./browser.mjs";

const REBOUND = "rebound.example";
let browser;
before(async () => {
  assert.ok(nodeUrl, "DEMO_URL (with ?node=) is set by `cargo xtask test`");
  browser = await launch([
    `--host-resolver-rules=MAP ${REBOUND} 127.0.0.1`,
    // Chromium asks the user before a public page reaches a local address; other browsers do
    // not, so devnode must refuse these requests by itself.
    `--disable-features=${[
      "LocalNetworkAccessChecks",
      "PrivateNetworkAccessSendPreflights",
      "PrivateNetworkAccessRespectPreflightResults",
    ].join(",")}`,
  ]);
});
after(() => browser?.close());

/** A page showing `origin` (a document Playwright serves), and the node's answers it got. */
async function pageAt(origin) {
  const page = await browser.newPage();
  await page.route(`${origin}/`, (route) =>
    route.fulfill({ contentType: "text/html", body: "<!doctype html><title>not ours</title>" }),
  );
  const answers = [];
  page.on("response", (response) => {
    if (response.url().startsWith(nodeUrl) || response.url().includes(REBOUND)) {
      const { pathname } = new URL(response.url());
      answers.push(`${response.request().method()} ${pathname} ${response.status()}`);
    }
  });
  await page.goto(`${origin}/`);
  return { page, answers };
}

test("a page on another origin cannot change devnode's faults", async () => {
  await setFaults({});
  const before = await readFaults();
  const { page, answers } = await pageAt("http://attacker.example");
  // A simple request: no preflight, so CORS cannot stop it from being processed; the page
  // only cannot read the answer.
  const sent = await page.evaluate(async (node) => {
    const body = JSON.stringify({ publishFailRate: 1, dropAckRate: 1 });
    await fetch(`${node}/devnode/faults`, { method: "POST", mode: "no-cors", body });
    await fetch(`${node}/devnode/stats/reset`, { method: "POST", mode: "no-cors", body: "{}" });
    return "sent";
  }, nodeUrl);
  assert.equal(sent, "sent");
  assert.deepEqual(await readFaults(), before, "the faults are unchanged");
  // Because devnode refused the requests, not because the browser never sent them.
  await page.waitForTimeout(200);
  assert.equal(answers.length, 2, `both requests answered: ${answers}`);
  for (const answer of answers) assert.match(answer, / 401$/, answers.join(", "));
  await page.close();
});

test("a page whose name resolves to 127.0.0.1 cannot read or write devnode", async () => {
  const port = new URL(nodeUrl).port;
  const origin = `http://${REBOUND}:${port}`;
  const { page, answers } = await pageAt(origin);
  // Same origin as far as the browser knows, so it may read whatever devnode answers.
  const statuses = await page.evaluate(async () => {
    const topic = "/xmtp/0/probe-rebound/proto";
    const headers = { "Content-Type": "application/json" };
    const post = (path, body) =>
      fetch(path, { method: "POST", headers, body: JSON.stringify(body) });
    const query = await post("/message/v1/query", { contentTopics: [topic] });
    const publish = await post("/message/v1/publish", {
      envelopes: [{ contentTopic: topic, timestampNs: "1", message: "aGk=" }],
    });
    const health = await fetch("/devnode/health");
    return [query.status, publish.status, health.status];
  });
  assert.deepEqual(statuses, [403, 403, 403], `answers: ${answers}`);
  await page.close();
});
