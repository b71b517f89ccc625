// BENCHMARKS.md from the numbers run.mjs collected (benchmarks.json holds the same, raw).

/**
 * Every row of the table: the figure's key in a run's numbers, what it is, its unit, whether
 * lower is better, and its baseline from the same page and run (if any).
 */
function rows(params, bytes) {
  const k = (count) => count.toLocaleString("en-US");
  const p = { ...params.perRun, ...params.once };
  const { sends: one } = p.awaited;
  return [
    ["sendMs", `awaited \`send\`, ${k(one)} in a row`, "ms/send", true,
      ["putMs", "raw put (same record, same indexes), one awaited readwrite tx each"]],
    ["commitsPerS", `${k(p.together.sends)} \`send\`s started at once, until all resolved`, "commits/s", false,
      ["putsTogetherPerS", `${k(p.together.sends)} raw one-put readwrite txs started at once`]],
    ["sentPerS1", `${k(p.toSent.sends)} sends to \`SENT\`, peer of 1 installation`, "msg/s", false, null],
    ["sentPerS3", `${k(p.toSent.sends)} sends to \`SENT\`, peer of 3 installations`, "msg/s", false,
      ["sentPerS1", "the same to a peer of 1 installation"]],
    ["resumeMsgPerS", `resume: ${k(p.resume.sends)} queued payloads, \`create\` resolved → all \`SENT\``, "msg/s", false,
      ["rawPublishPerS", `raw \`fetch\` publish, 50 envelopes of ${bytes} B a request`]],
    ["createMs", "resume: `Client.create` with those queued", "ms", true, null],
    ["receiveMsgPerS", `receive: ${k(p.receive.sends)} waiting, \`create\` → \`messages()\` holds all`, "msg/s", false, null],
    ["endToEndMs", `${k(p.endToEnd.sends)} end to end, first send → last shown at the receiver`, "ms", true,
      ["sendsResolvedMs", `the sender's ${k(p.endToEnd.sends)} sends resolved`]],
    ["pageMs", `\`messages({ limit: 50 })\` of ${k(p.history.history)}`, "ms", true,
      ["rawPageMs", `raw reverse index cursor, newest 50 of ${k(p.history.history)}`]],
    ["heapMb", `JS heap after ${k(p.history.total)} messages`, "MB", true,
      ["heapBeforeMb", "JS heap, client open before its first message"]],
    ["wasmMb", `wasm memory after ${k(p.history.total)} messages`, "MB", true,
      ["wasmBeforeMb", "wasm memory, client open before its first message"]],
    ["bulkPerS", `raw: ${k(p.baselines.bulk)} records in one readwrite tx`, "records/s", false, null],
    ["getTxPerS", "raw: readonly tx with one get, one after another", "tx/s", false, null],
    ["fourAwaitedTxPerS", "raw: tx of 4 puts, each awaited before the next", "tx/s", false,
      ["fourTogetherTxPerS", "tx of 4 puts fired together"]],
    ["olmEncryptUs", `Olm encrypt, ${k(p.baselines.olm)} × 100 B (vodozemac, no storage)`, "µs/msg", true, null],
    ["olmDecryptUs", `Olm decrypt, ${k(p.baselines.olm)} × 100 B (vodozemac, no storage)`, "µs/msg", true, null],
  ];
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** Three significant digits, grouped: 1,234 / 12.3 / 0.123. */
function fmt(x) {
  if (!Number.isFinite(x)) return "—";
  const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(x) || 1)));
  return x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
}

/** "median (min–max)" of `key` over the runs; the one value of a figure measured once. */
function spread(runs, key) {
  const values = runs.map((r) => r[key]).filter(Number.isFinite);
  if (values.length === 0) return null;
  if (runs.length === 1) return `${fmt(values[0])} (once)`;
  return `${fmt(median(values))} (${fmt(Math.min(...values))}–${fmt(Math.max(...values))})`;
}

export function markdown(report) {
  const { runs, params } = report;
  const bytes = fmt(median(runs.map((r) => r.envelopeBytes)));
  const lines = [
    "# Benchmarks",
    "",
    `Written by \`cargo xtask bench${report.quick ? " --quick" : ""}\`; the raw numbers of every run are in`,
    "`benchmarks.json`. Not a test: nothing here passes or fails.",
    "",
    `- mode: **${report.quick ? "quick (a tenth of the counts, no memory figure)" : "full"}**, ${runs.length} runs`,
    `- date: ${report.date}`,
    `- commit: \`${report.commit}\``,
    `- browser: ${report.chromium}, headless, on ${report.cores} cores`,
    `- duration: ${report.durationS} s`,
    "",
    "| figure | median (min–max) | unit | baseline, same page and run | baseline median (min–max) | cost × baseline |",
    "|---|---|---|---|---|---|",
  ];
  for (const [key, label, unit, lowerIsBetter, baseline] of rows(params, bytes)) {
    // A figure of the phases run once has that one measurement instead of the runs'.
    const measured = key in report.once ? [report.once] : runs;
    const value = spread(measured, key);
    if (value === null) continue;
    let base = ["—", "—", "—"];
    if (baseline) {
      const [baseKey, baseLabel] = baseline;
      // Per run: how many times the baseline's cost (time, or bytes) the figure is.
      const ratios = measured.map((r) => (lowerIsBetter ? r[key] / r[baseKey] : r[baseKey] / r[key]));
      base = [baseLabel, spread(measured, baseKey) ?? "—", `${fmt(median(ratios.filter(Number.isFinite)))}×`];
    }
    lines.push(`| ${label} | ${value} | ${unit} | ${base[0]} | ${base[1]} | ${base[2]} |`);
  }
  lines.push(
    "",
    "How to read it: each figure and its baseline were measured in the same page load of the same",
    "run; \"cost × baseline\" is the median over the runs of figure ÷ baseline for times and",
    "sizes, and of baseline ÷ figure for rates, so it always says how many times the baseline's",
    "cost the SDK's figure is. Every phase runs in a freshly loaded page of one Chromium",
    "profile kept on disk (IndexedDB as a user's, not in memory), with new wallets and databases",
    "(all deleted when the next phase starts), against a fresh local devnode. Messages are",
    "about 100 bytes of text. Raw transactions use the default durability, as the SDK's do.",
    "The history and memory figures (\"once\") are measured a single time, after the runs: their",
    "messages each go all the way to `SENT` first. `messages({ limit: 50 })` and its raw read",
    "are the median of five reads each, the sender idle; the heap is measured after a full",
    "collection (CDP). In the resume figure the page is reloaded between queueing (the node",
    "refusing publishes) and `create`.",
    "",
  );
  return lines.join("\n");
}
