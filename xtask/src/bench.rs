//! `cargo xtask bench [--quick] [--runs N] [--load-only | --page-only]`: the SDK's figures
//! against raw baselines measured in the same page and run (see README's Benchmarks), then the
//! node load benchmark (`load/`). Not part of `cargo xtask test`: it reports, it never fails
//! on a number.
//!
//! It builds the release package with the `bench` feature (the bare Olm baseline) into
//! `www/bench/pkg/` (served with the page; `pkg/` stays the package apps install), starts a
//! fresh devnode and the static site on free ports, and runs `www/bench/run.mjs`, which
//! drives headless Chromium and writes `BENCHMARKS.md` and `benchmarks.json`.

use std::{
    hash::{DefaultHasher, Hasher},
    path::Path,
    time::Instant,
};

use crate::{
    Result, USAGE, build_package, load,
    process::{Admin, Devnode, cmd, target_dir},
    serve, tools,
};

/// Where the bench's package goes, relative to the root (wasm-pack git-ignores it).
const BENCH_PKG: &str = "www/bench/pkg";

/// The command: `args` are what follows `bench`. Stops devnode and the site on the way out,
/// also when the driver fails.
pub(crate) fn bench(root: &Path, args: &[String]) -> Result {
    let flag = |name: &str| args.iter().any(|a| a == name);
    let (quick, load_only, page_only) = (flag("--quick"), flag("--load-only"), flag("--page-only"));
    let runs = match args.iter().position(|a| a == "--runs") {
        Some(i) => Some(
            args.get(i + 1)
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("--runs needs a number above 0\n{USAGE}"))?,
        ),
        None => None,
    };
    if let Some(unknown) = args.iter().enumerate().find_map(|(i, a)| {
        let known = ["--quick", "--runs", "--load-only", "--page-only"].contains(&a.as_str())
            || (i > 0 && args[i - 1] == "--runs");
        (!known).then_some(a)
    }) {
        return Err(format!("unknown bench argument {unknown}\n{USAGE}"));
    }
    if load_only && page_only {
        return Err(format!("--load-only and --page-only exclude each other\n{USAGE}"));
    }
    if !load_only {
        page(root, quick, runs)?;
        // The page part rewrites BENCHMARKS.md whole: the node section of the last load run
        // goes back in (a new one replaces it below).
        load::restore_section(root)?;
    }
    if !page_only {
        let started = Instant::now();
        let runs = runs.unwrap_or(if quick { 1 } else { 3 });
        load::load(root, quick, runs, &commit(root))?;
        println!(
            "\nBENCHMARKS.md (node section) and benchmarks-node.json written in {:.0?}",
            started.elapsed()
        );
    }
    Ok(())
}

/// The page part: the SDK in headless Chromium against a devnode.
fn page(root: &Path, quick: bool, runs: Option<u32>) -> Result {
    let started = Instant::now();
    tools::ensure(root, tools::Need::Test)?;
    build(root)?;
    let commit = commit(root);
    // The queue phase switches devnode's faults: the page gets the admin token in `?admin=`.
    let devnode = Devnode::start(root, "127.0.0.1:0", Admin::RandomToken)?;
    let site = serve::Site::start(root, "127.0.0.1:0")?;
    let page =
        format!("{}/bench/?node={}&admin={}", site.url(), devnode.url(), devnode.admin_token());
    let mut driver = cmd("node", &["www/bench/run.mjs"])
        .dir(root)
        .env("BENCH_URL", &page)
        .env("BENCH_QUICK", if quick { "1" } else { "0" })
        .env("BENCH_COMMIT", &commit)
        .env("CHROMIUM", tools::CHROMIUM);
    if let Some(runs) = runs {
        driver = driver.env("BENCH_RUNS", &runs.to_string());
    }
    let outcome = driver.run();
    drop(site);
    drop(devnode);
    outcome?;
    println!("\nBENCHMARKS.md and benchmarks.json written in {:.0?}", started.elapsed());
    Ok(())
}

/// Builds the bench's package, unless it was built from the same wasm and JS entry: cargo's
/// build is quick when nothing changed, but wasm-pack always reruns wasm-opt (half a minute).
fn build(root: &Path) -> Result {
    let wasm_target = "wasm32-unknown-unknown";
    // The build wasm-pack runs, the same flags: cargo's output is then the one it takes.
    cmd("cargo", &["build", "--lib", "--release", "--target", wasm_target, "--features", "bench"])
        .dir(root)
        .run()?;
    let target = target_dir(root);
    let mut hasher = DefaultHasher::new();
    for input in [
        target.join(wasm_target).join("release/e2ee_sdk.wasm"),
        root.join("src/client/package/index.js"),
        root.join("src/client/package/index.d.ts"),
    ] {
        let bytes =
            std::fs::read(&input).map_err(|e| format!("cannot read {}: {e}", input.display()))?;
        hasher.write(&bytes);
    }
    let source = format!("{:016x}\n", hasher.finish());
    let stamp = root.join(BENCH_PKG).join("source-hash");
    let built = root.join(BENCH_PKG).join("e2ee_sdk_bg.wasm").exists();
    if built && std::fs::read_to_string(&stamp).is_ok_and(|s| s == source) {
        println!("{BENCH_PKG} is up to date");
        return Ok(());
    }
    build_package(root, BENCH_PKG, &["bench"])?;
    std::fs::write(&stamp, source).map_err(|e| format!("cannot write {}: {e}", stamp.display()))
}

/// The commit measured, marked `-dirty` if files other than the bench's own output differ
/// from it (the figures are then of code no commit holds).
fn commit(root: &Path) -> String {
    let head = cmd("git", &["rev-parse", "HEAD"]).dir(root).output();
    let changes = cmd("git", &["status", "--porcelain", "--", "."])
        .args(&[":!BENCHMARKS.md", ":!benchmarks.json", ":!benchmarks-node.json"])
        .dir(root)
        .output();
    match (head, changes) {
        (Some(head), Some(changes)) if changes.trim().is_empty() => head.trim().to_owned(),
        (Some(head), _) => format!("{}-dirty", head.trim()),
        (None, _) => "unknown".to_owned(),
    }
}
