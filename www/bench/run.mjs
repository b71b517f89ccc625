// The bench's driver, run by `cargo xtask bench` (which builds the package, starts devnode and
// serves www/): one headless Chromium profile on disk (IndexedDB as a user's, not in memory),
// launched as the page tests launch it, loads www/bench/ once per phase and run, collects the
// numbers and writes benchmarks.json and BENCHMARKS.md at the repository root.
//
// Environment (set by the xtask):
//   BENCH_URL     the served bench page, with ?node=<devnode>
//   BENCH_QUICK   1: the quick mode (a tenth of the counts, no 10,000-message memory figure)
//   BENCH_RUNS    runs (default 5, quick 3)
//   BENCH_COMMIT  the git commit measured (with "-dirty" if the tree had changes)
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { launchProfile } from "../tests/browser.mjs";
import { markdown } from "./report.mjs";

const url = process.env.BENCH_URL;
if (!url) throw new Error("BENCH_URL is not set: run `cargo xtask bench`");
const quick = process.env.BENCH_QUICK === "1";
const runs = Number(process.env.BENCH_RUNS || (quick ? 3 : 5));
if (!Number.isInteger(runs) || runs < 1) throw new Error(`BENCH_RUNS must be a whole number, not ${process.env.BENCH_RUNS}`);
/** How long one phase may take: a guard against a hang, not a speed check. */
const PHASE_MS = 10 * 60_000;

/**
 * The counts of each phase, full or a tenth in quick mode. `perRun` phases run in every run;
 * `once` runs after the runs, a single time: its 10,000 messages each go all the way to SENT
 * (minutes at the SDK's rate), so five runs of it would take most of an hour.
 */
const scale = quick ? 10 : 1;
const n = (count) => count / scale;
const params = {
  perRun: {
    baselines: { bulk: n(5000), gets: n(1000), fourTx: n(200), olm: n(1000) },
    awaited: { sends: n(200) },
    together: { sends: n(1000) },
    toSent: { sends: n(1000) },
    // `queue` hands `resume` (in the page reloaded) the database and wallet it queued in.
    queue: { sends: n(1000) },
    resume: { sends: n(1000) },
    receive: { sends: n(1000) },
    endToEnd: { sends: n(200) },
  },
  once: { history: { history: quick ? 250 : 5000, total: quick ? 0 : 10_000 } },
};

async function main() {
  const dir = mkdtempSync(join(tmpdir(), "e2ee-bench-"));
  const context = await launchProfile(dir);
  const started = Date.now();
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (err) => console.error(`page error: ${err.message}`));
    let phase = "";
    page.on("console", (m) => {
      // The queue phase has the node refuse publishes: the browser logs each refusal.
      const refused = phase === "queue" && m.text().includes("status of 503");
      if (m.type() === "error" && !refused) console.error(`page console: ${m.text()}`);
    });
    const cdp = await context.newCDPSession(page);
    // The heap figure: used JS heap after a full collection, which performance.memory (coarse,
    // delayed) does not give.
    await page.exposeFunction("benchHeap", async () => {
      await cdp.send("HeapProfiler.collectGarbage");
      return (await cdp.send("Runtime.getHeapUsage")).usedSize;
    });
    const { product } = await cdp.send("Browser.getVersion");
    /** Runs `phases` in order, each in a freshly loaded page; their numbers merged. */
    const run = async (label, phases) => {
      const figures = {};
      let queued = {};
      for (const [name, args] of Object.entries(phases)) {
        phase = name;
        const phaseStarted = Date.now();
        await page.goto(url);
        await page.waitForFunction(() => globalThis.bench !== undefined);
        const call = phase === "resume" ? { ...args, ...queued } : args;
        const out = await bounded(page.evaluate(([p, a]) => globalThis.bench.run(p, a), [phase, call]), phase);
        if (phase === "queue") queued = out;
        else Object.assign(figures, out);
        console.log(`${label} ${phase}: ${((Date.now() - phaseStarted) / 1000).toFixed(1)} s`);
      }
      return figures;
    };
    const results = [];
    for (let i = 1; i <= runs; i++) results.push(await run(`run ${i}/${runs}`, params.perRun));
    const once = await run("once", params.once);
    const report = {
      quick,
      date: new Date().toISOString(),
      commit: process.env.BENCH_COMMIT ?? "unknown",
      chromium: product,
      cores: availableParallelism(),
      durationS: Math.round((Date.now() - started) / 1000),
      params,
      runs: results,
      once,
    };
    const root = new URL("../../", import.meta.url);
    writeFileSync(new URL("benchmarks.json", root), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(new URL("BENCHMARKS.md", root), markdown(report));
    console.log(markdown(report));
  } finally {
    // The profile, with every database of the bench, goes with its directory.
    await context.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Fails with the phase's name if `promise` takes longer than PHASE_MS. */
async function bounded(promise, phase) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`phase ${phase}: still not done after ${PHASE_MS} ms`)), PHASE_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

await main();
