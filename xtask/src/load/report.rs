//! The node load benchmark's report: the raw figures of every run in `benchmarks-node.json`,
//! and a section of `BENCHMARKS.md` rendered from that file. The page benchmark rewrites
//! `BENCHMARKS.md` whole, so the section starts at a marker line and runs to the end of the
//! file, and [`restore_section`] puts it back after the page part has written its own.

use std::path::Path;

use serde_json::{Value, json};

use super::SETUPS;
use crate::Result;

const JSON: &str = "benchmarks-node.json";
const MARKDOWN: &str = "BENCHMARKS.md";
/// The first line of the section; everything from it to the end of the file is ours.
const MARKER: &str =
    "<!-- node load benchmark: written by `cargo xtask bench` from benchmarks-node.json -->";

/// Writes the JSON and the section.
pub(super) fn write(root: &Path, context: Value, runs: Vec<Value>) -> Result {
    let report = json!({ "context": context, "runs": runs });
    let path = root.join(JSON);
    let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
    std::fs::write(&path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
    put_section(root, &markdown(&report))?;
    println!("\n{}", markdown(&report));
    Ok(())
}

/// Appends the section of the last load run (if there was one) to `BENCHMARKS.md` again.
pub(crate) fn restore_section(root: &Path) -> Result {
    let Ok(text) = std::fs::read_to_string(root.join(JSON)) else { return Ok(()) };
    let report: Value = serde_json::from_str(&text).map_err(|e| format!("{JSON}: {e}"))?;
    put_section(root, &markdown(&report))
}

/// Replaces the section (from the marker on), or appends it.
fn put_section(root: &Path, section: &str) -> Result {
    let path = root.join(MARKDOWN);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|_| "# Benchmarks\n".to_owned());
    let head = text.find(MARKER).map_or(text.as_str(), |at| &text[..at]).trim_end();
    std::fs::write(&path, format!("{head}\n\n{section}"))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn markdown(report: &Value) -> String {
    let c = &report["context"];
    let s = &c["scale"];
    let runs = report["runs"].as_array().map_or(&[][..], Vec::as_slice);
    let of = |setup: &str| -> Vec<&Value> {
        runs.iter().filter(|r| r["setup"] == setup).map(|r| &r["figures"]).collect()
    };
    let columns: Vec<Vec<&Value>> = SETUPS.iter().map(|(key, ..)| of(key)).collect();
    let row = |figure: String, cell: &dyn Fn(&[&Value]) -> String, target: &str| {
        let cells: Vec<String> = columns.iter().map(|runs| cell(runs)).collect();
        format!("| {figure} | {} | {target} |\n", cells.join(" | "))
    };
    let mut table = String::from(
        "| figure | memory | PostgreSQL, 1 replica | PostgreSQL, 2 replicas | target |\n\
         |---|---|---|---|---|\n",
    );
    table += &row(
        format!(
            "publish, {} publishers × batches of {} × {} B (envelopes/s)",
            s["publishers"], s["batch"], s["message_bytes"]
        ),
        &|r| spread(r, &|f| f["publish_per_s"].as_f64()),
        "≥ 20,000 on PostgreSQL",
    );
    table += &row(
        "publish latency per batch, p50 / p99 (ms)".into(),
        &|r| pair(r, &|f| f["publish_p50_ms"].as_f64(), &|f| f["publish_p99_ms"].as_f64()),
        "",
    );
    table += &row(
        "query, pages of ≤ 100 through every topic (pages/s)".into(),
        &|r| spread(r, &|f| f["query_pages_per_s"].as_f64()),
        "",
    );
    table += &row(
        "query latency per page, p50 / p99 (ms)".into(),
        &|r| pair(r, &|f| f["query_p50_ms"].as_f64(), &|f| f["query_p99_ms"].as_f64()),
        "",
    );
    table += &row(
        "every acknowledged envelope read back by paging".into(),
        &|r| {
            let complete = r.iter().all(|f| f["query_read_per_pass"] == f["publish_envelopes"]);
            if r.is_empty() {
                "—".into()
            } else if complete {
                "yes".into()
            } else {
                "**no**".into()
            }
        },
        "yes",
    );
    table += &row(
        format!(
            "steady publisher reached (envelopes/s of {})",
            number(s["rate"].as_f64().unwrap_or(0.0))
        ),
        &|r| spread(r, &|f| f["delivery_rate_per_s"].as_f64()),
        "",
    );
    table += &row(
        format!(
            "delivery p50 / p99 (ms), {} subscribers held, on the publishing replica",
            number(s["subscribers"].as_f64().unwrap_or(0.0))
        ),
        &|r| delivery(r, 0),
        "",
    );
    table += &row(
        "delivery p50 / p99 (ms) across replicas (subscribers on the other replica)".into(),
        &|r| delivery(r, 1),
        "p99 < 50",
    );
    table += &row(
        "delivered / expected (doubled, streams ended by the node)".into(),
        &|r| counts(r),
        "all (0, 0)",
    );
    let mode = c["mode"].as_str().unwrap_or("?");
    format!(
        "{MARKER}\n## Node load (devnode over HTTP)\n\n\
         Written by `cargo xtask bench` (alone: `--load-only`); the raw numbers of every run \
         are in `benchmarks-node.json`.\n\n\
         - mode: **{mode}**, {runs} run(s) of each setup, medians (min–max)\n\
         - date: {date}\n- commit: `{commit}`\n\
         - machine: {cores} cores, 1-minute load average {before} before and {after} after \
         (the load generator and PostgreSQL share the cores with the node{loaded})\n\
         - duration: {duration} s\n\n{table}\n\
         How to read it: devnode's release build on loopback, a fresh node (and database) for \
         each setup of each run, on a throwaway PostgreSQL 15 cluster with `fsync` on (every \
         acknowledged publish is committed). Publishing: {publishers} connections send \
         {total} envelopes over {topics} topics as fast as acknowledged; with two replicas the \
         publishers and the queries are spread over both, and successive pages of a topic \
         alternate between them (each cursor used on the other replica). Delivery: \
         {subscribers} streams (one topic each, spread over the replicas) are open before \
         a publisher on the first replica sends {rate} envelopes/s for {seconds} s (a batch \
         every 10 ms, up to 8 in flight); latency is from just before the publish request to the subscriber \
         reading the line. What has not arrived {grace} ms after the last publish counts as \
         not delivered.\n",
        runs = c["runs"],
        date = c["date"].as_str().unwrap_or("?"),
        commit = c["commit"].as_str().unwrap_or("?"),
        cores = c["cores"],
        before = c["load_average_before"],
        after = c["load_average_after"],
        loaded = if c["load_average_before"].as_f64().unwrap_or(0.0)
            > c["cores"].as_f64().unwrap_or(2.0)
        {
            "; **the machine was busy with other work: the figures are low**"
        } else {
            ""
        },
        duration = c["duration_s"],
        publishers = s["publishers"],
        total = number(
            s["publishers"].as_f64().unwrap_or(0.0)
                * s["batches_per_publisher"].as_f64().unwrap_or(0.0)
                * s["batch"].as_f64().unwrap_or(0.0)
        ),
        topics = s["topics"],
        subscribers = s["subscribers"],
        rate = s["rate"],
        seconds = s["rate_seconds"],
        grace = s["grace_ms"],
    )
}

/// Median (min–max) of a figure over the runs.
fn spread(runs: &[&Value], figure: &dyn Fn(&Value) -> Option<f64>) -> String {
    let mut values: Vec<f64> = runs.iter().filter_map(|f| figure(f)).collect();
    if values.is_empty() {
        return "—".into();
    }
    values.sort_by(f64::total_cmp);
    let (min, max) = (values[0], values[values.len() - 1]);
    if values.len() == 1 {
        return number(min);
    }
    format!("{} ({}–{})", number(median(&values)), number(min), number(max))
}

/// Medians of two figures, "a / b".
fn pair(
    runs: &[&Value],
    first: &dyn Fn(&Value) -> Option<f64>,
    second: &dyn Fn(&Value) -> Option<f64>,
) -> String {
    let median_of = |figure: &dyn Fn(&Value) -> Option<f64>| {
        let mut values: Vec<f64> = runs.iter().filter_map(|f| figure(f)).collect();
        values.sort_by(f64::total_cmp);
        if values.is_empty() { "—".into() } else { number(median(&values)) }
    };
    format!("{} / {}", median_of(first), median_of(second))
}

/// Delivery latency to the subscribers on replica `replica`: "—" where there is no such
/// replica, "not delivered" where nothing arrived.
fn delivery(runs: &[&Value], replica: usize) -> String {
    let on = |f: &Value| f["delivery_by_replica"].get(replica).cloned();
    let replicas: Vec<Value> = runs.iter().filter_map(|f| on(f)).collect();
    if replicas.is_empty() {
        return "—".into();
    }
    if replicas.iter().all(|r| r["received"] == 0) {
        return "**not delivered**".into();
    }
    let refs: Vec<&Value> = replicas.iter().collect();
    pair(&refs, &|r| r["p50_ms"].as_f64(), &|r| r["p99_ms"].as_f64())
}

/// Sums over runs and replicas: received / expected (doubled, ended).
fn counts(runs: &[&Value]) -> String {
    if runs.is_empty() {
        return "—".into();
    }
    let sum = |key: &str| -> u64 {
        runs.iter()
            .flat_map(|f| f["delivery_by_replica"].as_array().into_iter().flatten())
            .filter_map(|r| r[key].as_u64())
            .sum()
    };
    let (received, expected) = (sum("received"), sum("expected"));
    let text =
        format!("{} / {} ({}, {})", count(received), count(expected), sum("doubled"), sum("ended"));
    if received == expected { text } else { format!("**{text}**") }
}

fn median(sorted: &[f64]) -> f64 {
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 { sorted[mid] } else { (sorted[mid - 1] + sorted[mid]) / 2.0 }
}

/// Three significant digits, thousands separated: 123,456 · 1,234 · 12.3 · 1.23 · 0.123.
fn number(value: f64) -> String {
    let size = value.abs();
    if size >= 999.5 {
        let sign = if value < 0.0 { "-" } else { "" };
        format!("{sign}{}", count(size.round() as u64))
    } else if size >= 99.95 {
        format!("{value:.0}")
    } else if size >= 9.995 {
        format!("{value:.1}")
    } else if size >= 0.9995 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// A whole number, thousands separated.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_three_significant_digits_and_separate_thousands() {
        assert_eq!(number(123_456.4), "123,456");
        assert_eq!(number(1_234.0), "1,234");
        assert_eq!(number(999.6), "1,000");
        assert_eq!(number(12.345), "12.3");
        assert_eq!(number(99.96), "100");
        assert_eq!(count(2_000), "2,000");
        assert_eq!(number(0.1234), "0.123");
    }

    #[test]
    fn the_section_replaces_its_old_self_and_keeps_the_page_table() {
        let dir = std::env::temp_dir().join(format!("xtask-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(MARKDOWN), "# Benchmarks\n\npage table\n").unwrap();
        put_section(&dir, &format!("{MARKER}\nfirst\n")).unwrap();
        put_section(&dir, &format!("{MARKER}\nsecond\n")).unwrap();
        let text = std::fs::read_to_string(dir.join(MARKDOWN)).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(text, format!("# Benchmarks\n\npage table\n\n{MARKER}\nsecond\n"));
    }

    #[test]
    fn two_replicas_without_cross_replica_delivery_say_so() {
        let run = json!({ "delivery_by_replica": [
            { "expected": 5, "received": 5, "doubled": 0, "ended": 0, "p50_ms": 1.0, "p99_ms": 2.0 },
            { "expected": 5, "received": 0, "doubled": 0, "ended": 0, "p50_ms": null, "p99_ms": null },
        ]});
        assert_eq!(delivery(&[&run], 0), "1.00 / 2.00");
        assert_eq!(delivery(&[&run], 1), "**not delivered**");
        assert_eq!(delivery(&[&json!({ "delivery_by_replica": [{}] })], 1), "—");
        assert_eq!(counts(&[&run]), "**5 / 10 (0, 0)**");
    }
}
