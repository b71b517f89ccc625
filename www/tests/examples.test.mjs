// The package from bundlers: the Vite and webpack 5 examples (built by `cargo xtask test`
// from www/examples/) load the SDK and send a message that a profile in the demo receives.
import assert from "node:assert/strict";
import { test } from "node:test";
import { nodeUrl, saveScreenshot, sharedBrowser, url } from "./browser.mjs";

const browser = sharedBrowser();

for (const bundler of ["vite", "webpack"]) {
  test(`the ${bundler} example loads the package and sends a message`, async () => {
    const bob = await (await browser().newContext()).newPage();
    await bob.goto(url);
    await bob.waitForSelector('#status[data-state="ok"]', { timeout: 60_000 });
    const bobAddress = await bob.textContent("#address");

    const app = await (await browser().newContext()).newPage();
    const errors = [];
    app.on("pageerror", (err) => errors.push(err.message));
    const page = new URL(`examples/${bundler}/${bundler === "vite" ? "dist/" : ""}index.html`, url);
    page.search = new URLSearchParams({ node: nodeUrl, peer: bobAddress }).toString();
    await app.goto(page.href);
    // A guard against a hang, not a speed check.
    await app.waitForSelector('#status:is([data-state="sent"], [data-state="error"])', { timeout: 60_000 });
    assert.equal(await app.getAttribute("#status", "data-state"), "sent", await app.textContent("#status"));
    assert.deepEqual(errors, []);
    await saveScreenshot(app, `example-${bundler}.png`);

    // Bob's demo lists the conversation and shows the message once.
    await bob.waitForSelector("#conversations button", { timeout: 60_000 });
    await bob.click("#conversations button");
    await bob.waitForSelector('#messages li[data-state="RECEIVED"]', { timeout: 60_000 });
    const texts = await bob.$$eval("#messages li .text", (items) => items.map((i) => i.textContent));
    assert.deepEqual(texts, [`hello from the ${bundler === "vite" ? "Vite" : "webpack"} example`]);
    await bob.context().close();
    await app.context().close();
  });
}
