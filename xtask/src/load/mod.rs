//! The node load benchmark, the second part of `cargo xtask bench` (alone with
//! `--load-only`): a load generator drives devnode (release build) over HTTP on loopback in
//! three setups, each measured in every run: the memory store; one replica on a throwaway
//! PostgreSQL; two replicas on one database of it (publishers and queries spread over both,
//! the steady publisher on the first, subscribers on both). It writes its own section of
//! `BENCHMARKS.md` and `benchmarks-node.json` (see `report.rs`); like the page part it
//! reports, it never fails on a number.

mod client;
mod phases;
mod report;

use std::{path::Path, time::Duration};

use serde_json::{Value, json};

use crate::{
    Result,
    process::{Admin, Devnode, cmd, target_dir},
};
use phases::Scale;

pub(crate) use report::restore_section;

/// The setups, in the order of the table's columns: (key, replicas, on PostgreSQL).
const SETUPS: [(&str, usize, bool); 3] =
    [("memory", 1, false), ("postgres_1", 1, true), ("postgres_2", 2, true)];

/// How long the delivery phase waits for envelopes still on their way once publishing ended:
/// what has not arrived by then counts as not delivered (no subscriber waits forever).
const GRACE: Duration = Duration::from_secs(3);

/// Runs the benchmark `runs` times (`quick`: smaller phases) and writes the report.
pub(crate) fn load(root: &Path, quick: bool, runs: u32, commit: &str) -> Result {
    let started = std::time::Instant::now();
    cmd("cargo", &["build", "--release", "--quiet", "-p", "devnode"]).dir(root).run()?;
    let binary = target_dir(root).join("release/devnode");
    let scale = Scale {
        publishers: 8,
        batches_per_publisher: if quick { 10 } else { 80 },
        batch: 50,
        message_bytes: 500,
        topics: 100,
        query_passes: if quick { 1 } else { 3 },
        subscribers: 1000,
        rate: 1000,
        rate_seconds: if quick { 2 } else { 5 },
    };
    let load_before = load_average();
    let postgres = pgtmp::Cluster::start()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the load generator's runtime: {e}"))?;
    let mut measured: Vec<Value> = Vec::new();
    for run in 0..runs {
        for (key, replicas, on_postgres) in SETUPS {
            println!("load run {}/{runs}: {key}", run + 1);
            let database = if on_postgres { Some(postgres.create_database()?) } else { None };
            let mut args = Vec::new();
            if let Some(url) = &database {
                args.extend(["--database", url.as_str()]);
            }
            let nodes = (0..replicas)
                .map(|_| Devnode::spawn(&binary, "127.0.0.1:0", Admin::Off, &args))
                .collect::<Result<Vec<_>>>()?;
            let urls: Vec<String> = nodes.iter().map(|n| n.url().to_owned()).collect();
            let tag = format!("load-{run}-{key}");
            let figures = runtime.block_on(measure(&urls, scale, &tag))?;
            println!("  {figures}");
            measured.push(json!({ "run": run, "setup": key, "figures": figures }));
            drop(nodes);
        }
    }
    drop(runtime);
    postgres.stop()?;
    let context = json!({
        "mode": if quick { "quick" } else { "full" },
        "runs": runs,
        "date": cmd("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]).output().unwrap_or_default().trim(),
        "commit": commit,
        "cores": std::thread::available_parallelism().map_or(0, usize::from),
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "duration_s": started.elapsed().as_secs(),
        "scale": {
            "publishers": scale.publishers, "batch": scale.batch,
            "batches_per_publisher": scale.batches_per_publisher,
            "message_bytes": scale.message_bytes, "topics": scale.topics,
            "query_passes": scale.query_passes, "subscribers": scale.subscribers,
            "rate": scale.rate, "rate_seconds": scale.rate_seconds,
            "grace_ms": GRACE.as_millis() as u64,
        },
    });
    report::write(root, context, measured)
}

/// One setup's three phases on fresh nodes; every figure a plain number for the JSON.
async fn measure(urls: &[String], scale: Scale, tag: &str) -> Result<Value> {
    let published = phases::publish(urls, scale, tag).await?;
    let queried = phases::query(urls, scale, tag).await?;
    let delivery = phases::deliver(urls, scale, tag, GRACE).await?;
    let by_replica: Vec<Value> = delivery
        .by_replica
        .iter()
        .map(|d| {
            json!({
                "expected": d.expected, "received": d.received, "doubled": d.doubled,
                "ended": d.ended, "p50_ms": percentile(&d.latencies_ms, 50.0),
                "p99_ms": percentile(&d.latencies_ms, 99.0),
            })
        })
        .collect();
    Ok(json!({
        "publish_per_s": published.per_second,
        "publish_envelopes": published.envelopes,
        "publish_p50_ms": percentile(&published.latencies_ms, 50.0),
        "publish_p99_ms": percentile(&published.latencies_ms, 99.0),
        "query_pages_per_s": queried.pages_per_second,
        "query_envelopes_per_s": queried.envelopes_per_second,
        "query_p50_ms": percentile(&queried.latencies_ms, 50.0),
        "query_p99_ms": percentile(&queried.latencies_ms, 99.0),
        "query_read_per_pass": queried.envelopes_per_pass,
        "delivery_rate_per_s": delivery.achieved_rate,
        "delivery_by_replica": by_replica,
    }))
}

/// The `p`th percentile (nearest rank) in ms, or null when nothing was measured.
fn percentile(values: &[f64], p: f64) -> Value {
    if values.is_empty() {
        return Value::Null;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    json!(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// The machine's 1-minute load average: the machine is shared, and a loaded one says so.
fn load_average() -> Value {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|l| l.parse::<f64>().ok()))
        .map_or(Value::Null, |l| json!(l))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_and_null_when_nothing_was_measured() {
        let values: Vec<f64> = (1..=200).rev().map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), json!(100.0));
        assert_eq!(percentile(&values, 99.0), json!(198.0));
        assert_eq!(percentile(&[7.0], 99.0), json!(7.0));
        assert_eq!(percentile(&[], 50.0), Value::Null);
    }
}
