//! The project's two commands (see the README):
//!
//! - `cargo xtask demo`: builds `pkg/`, starts devnode, serves `www/` and prints the URL.
//! - `cargo xtask test`: formatting, clippy, native tests, the release size check, the
//!   browser tests in headless Chromium against a fresh devnode, and the demo page's
//!   end-to-end test.
//!
//! Both first install whatever this machine lacks (see `tools.rs`) and skip what is there.
//!
//! And two more, not part of the test command: `cargo xtask sim [--seeds N] [--from S]
//! [--jobs J]`, the simulator's long run (the test command runs its short run), and
//! `cargo xtask bench [--quick] [--runs N] [--load-only | --page-only]`, the benchmarks of the
//! SDK in a page and of the node under load (see `bench.rs`, `load/`).

mod bench;
mod fuzz;
mod load;
mod process;
mod serve;
mod size;
mod tools;

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::Instant,
};

use process::{Admin, Devnode, build_devnode, cmd};

type Result<T = ()> = std::result::Result<T, String>;

const USAGE: &str = "usage: cargo xtask <demo [--node-port N] [--www-port N] [--admin-token T] \
                     | test | sim [--seeds N] [--from S] [--jobs J] \
                     | bench [--quick] [--runs N] [--load-only | --page-only]>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("demo") => demo(&args[1..]),
        Some("sim") => sim(&args[1..]),
        Some("bench") => bench::bench(&root(), &args[1..]),
        Some("fuzz") => fuzz::fuzz(&args[1..]),
        _ => Err(USAGE.to_owned()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (xtask lives one level below it).
fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Runs every check; the first failure stops the run (devnode is stopped on the way out).
fn test() -> Result {
    let root = root();
    let mut steps = Steps::default();
    steps.run("install missing tools", || tools::ensure(&root, tools::Need::Test))?;
    steps.run("cargo fmt --check", || cmd("cargo", &["fmt", "--all", "--", "--check"]).run())?;
    steps.run("clippy (native)", || {
        cmd("cargo", &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]).run()
    })?;
    steps.run("clippy (wasm32)", || {
        cmd("cargo", &["clippy", "-p", "e2ee-sdk", "--all-targets", "--features", "test-export"])
            .args(&["--target", "wasm32-unknown-unknown", "--", "-D", "warnings"])
            .run()
    })?;
    steps.run("native tests", || cmd("cargo", &["test", "--workspace"]).run())?;
    steps.run("release build and size check", || {
        build_pkg(&root).and_then(|()| size::check(&root))
    })?;
    steps.run("bundle the Vite and webpack examples", || build_examples(&root))?;
    steps.run("build the React and Next.js apps", || build_apps(&root))?;
    // The tests switch devnode's faults, through its admin routes behind a token of this run.
    let devnode =
        steps.run("start devnode", || Devnode::start(&root, "127.0.0.1:0", Admin::RandomToken))?;
    steps.run("browser tests (headless Chromium)", || {
        // `test-export` lets the tests read key bytes to prove they are never stored in the clear.
        cmd("wasm-pack", &["test", "--headless", "--chrome", "--", "--test", "browser"])
            .args(&["--features", "test-export"])
            .env("CHROMEDRIVER", tools::CHROMEDRIVER)
            // The runner's default of 20 s is too short for the reload-and-resume tests; this
            // only guards against hangs.
            .env("WASM_BINDGEN_TEST_TIMEOUT", "300")
            .env("DEVNODE_URL", devnode.url())
            .env("DEVNODE_ADMIN_TOKEN", devnode.admin_token())
            .run()
    })?;
    // The fail-over page test runs its own devnode replicas on one database of this cluster
    // (about 3 s to create and start). Dropping it stops it, also when a step fails.
    let postgres = steps.run("start a throwaway PostgreSQL", pgtmp::Cluster::start)?;
    steps.run("demo page end-to-end (Playwright)", || {
        let site = serve::Site::start(&root, "127.0.0.1:0")?;
        cmd("node", &["--test", "www/tests/"])
            .dir(&root)
            .env("DEMO_URL", &format!("{}/?node={}", site.url(), devnode.url()))
            .env("DEVNODE_ADMIN_TOKEN", devnode.admin_token())
            .env("DEVNODE_DATABASE_URL", &postgres.create_database()?)
            .env_os("DEVNODE_BIN", build_devnode(&root)?.as_os_str())
            .env("CHROMIUM", tools::CHROMIUM)
            .run()
    })?;
    drop(devnode);
    postgres.stop()?;
    steps.report();
    Ok(())
}

/// The simulator's long run: `--seeds` seeds (default 10,000) from `--from` (default
/// 1,000,000) at the long scale, split over `--jobs` processes (default 2), optimised.
fn sim(args: &[String]) -> Result {
    let number = |flag: &str, default: u64| -> Result<u64> {
        match args.iter().position(|a| a == flag) {
            Some(i) => args
                .get(i + 1)
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("{flag} needs a number\n{USAGE}")),
            None => Ok(default),
        }
    };
    let (seeds, from, jobs) =
        (number("--seeds", 10_000)?, number("--from", 1_000_000)?, number("--jobs", 2)?.max(1));
    let root = root();
    let test = ["test", "--profile", "sim", "-p", "e2ee-sdk", "--lib", "sim::tests::long_run"];
    cmd("cargo", &test).args(&["--no-run"]).dir(&root).run()?;
    let started = Instant::now();
    let share = seeds.div_ceil(jobs);
    let outcomes: Vec<Result> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..jobs)
            .map(|job| {
                let (first, count) =
                    (from + job * share, share.min(seeds - (job * share).min(seeds)));
                let root = &root;
                scope.spawn(move || {
                    cmd("cargo", &test)
                        .args(&["--", "--ignored", "--nocapture"])
                        .dir(root)
                        .env("SIM_FIRST_SEED", &first.to_string())
                        .env("SIM_SEEDS", &count.to_string())
                        .run()
                })
            })
            .collect();
        runs.into_iter()
            .map(|run| run.join().unwrap_or_else(|_| Err("a simulator job panicked".into())))
            .collect()
    });
    println!("\n{seeds} seeds from {from} in {:.0?} over {jobs} jobs", started.elapsed());
    outcomes.into_iter().collect()
}

/// Builds the package, starts devnode and serves the demo until ctrl-c. devnode's admin
/// routes stay off unless `--admin-token T` (for running the page tests against it, with
/// `DEVNODE_ADMIN_TOKEN=T`).
fn demo(args: &[String]) -> Result {
    let port = |flag: &str, default: u16| -> Result<u16> {
        match args.iter().position(|a| a == flag) {
            Some(i) => args
                .get(i + 1)
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| format!("{flag} needs a port number\n{USAGE}")),
            None => Ok(default),
        }
    };
    let (node_port, www_port) = (port("--node-port", 5555)?, port("--www-port", 8080)?);
    let admin = match args.iter().position(|a| a == "--admin-token") {
        Some(i) => Admin::Token(
            args.get(i + 1).ok_or_else(|| format!("--admin-token needs a token\n{USAGE}"))?.clone(),
        ),
        None => Admin::Off,
    };
    let root = root();
    tools::ensure(&root, tools::Need::Demo)?;
    build_pkg(&root)?;
    size::check(&root)?;
    let devnode = Devnode::start(&root, &format!("127.0.0.1:{node_port}"), admin)?;
    let site = serve::Site::start(&root, &format!("127.0.0.1:{www_port}"))?;
    println!(
        "\nDemo running. Open:\n\n    {}/?node={}\n\nCtrl-C stops it.",
        site.url(),
        devnode.url()
    );
    site.wait_for_ctrl_c();
    drop(devnode);
    Ok(())
}

/// `pkg/`: the release build apps install, for the browser's native ES modules.
fn build_pkg(root: &Path) -> Result {
    build_package(root, "pkg", &[])
}

/// The release package in `out_dir` (relative to the root) with the crate's `features`
/// (none for `pkg/`; the bench adds its own). wasm-pack finds wasm-opt on `PATH`: the npm
/// package's comes first.
fn build_package(root: &Path, out_dir: &str, features: &[&str]) -> Result {
    let bin = root.join("node_modules/.bin");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&path)))
        .map_err(|e| format!("cannot extend PATH: {e}"))?;
    // `--weak-refs`: objects handed to JS are freed by the garbage collector; apps never
    // call `free()`.
    let mut build =
        cmd("wasm-pack", &["build", "--release", "--target", "web", "--weak-refs", "--out-dir"])
            .args(&[out_dir]);
    if !features.is_empty() {
        build = build.args(&["--", "--features", &features.join(",")]);
    }
    build.dir(root).env_os("PATH", &path).run()?;
    add_entry(&root.join(out_dir))
}

/// The package's entry point is `index.js` (written in JS, in `src/client/package/`): it
/// wraps wasm-bindgen's glue with what must work before the wasm loads, or on a server.
fn add_entry(pkg: &Path) -> Result {
    let source = root().join("src/client/package");
    for file in ["index.js", "index.d.ts"] {
        std::fs::copy(source.join(file), pkg.join(file))
            .map_err(|e| format!("cannot copy {file} into {}: {e}", pkg.display()))?;
    }
    let manifest = pkg.join("package.json");
    let failed = |e: &dyn std::fmt::Display| format!("{}: {e}", manifest.display());
    let text = std::fs::read_to_string(&manifest).map_err(|e| failed(&e))?;
    let mut json: serde_json::Value = serde_json::from_str(&text).map_err(|e| failed(&e))?;
    json["main"] = "index.js".into();
    json["types"] = "index.d.ts".into();
    if let Some(files) = json["files"].as_array_mut() {
        files.extend(["index.js".into(), "index.d.ts".into()]);
    }
    // Its patching of `Client` must run even where a bundler skips modules without effects.
    if let Some(effects) = json["sideEffects"].as_array_mut() {
        effects.push("./index.js".into());
    }
    let text = serde_json::to_string_pretty(&json).map_err(|e| e.to_string())?;
    std::fs::write(&manifest, text + "\n").map_err(|e| failed(&e))
}

/// Bundles `www/examples/` with Vite and webpack 5 (into their `dist/`), the way an app that
/// installed `pkg/` would; the page tests load them.
fn build_examples(root: &Path) -> Result {
    let bin = root.join("node_modules/.bin");
    cmd(&bin.join("vite").to_string_lossy(), &["build", "--config"])
        .args(&["www/examples/vite/vite.config.mjs"])
        .dir(root)
        .run()?;
    cmd(&bin.join("webpack").to_string_lossy(), &["--config"])
        .args(&["www/examples/webpack/webpack.config.mjs"])
        .dir(root)
        .run()
}

/// Builds the example chat apps for production, the way their developers would: the React
/// app type-checked by `tsc` and bundled by `vite build` (into `www/examples/react/dist`),
/// the Next.js app by `next build` (into `www/examples/next/.next`, type-checked too). The
/// page test serves both, and runs their dev servers itself.
fn build_apps(root: &Path) -> Result {
    let bin = |name: &str| root.join("node_modules/.bin").join(name).to_string_lossy().into_owned();
    cmd(&bin("tsc"), &["--noEmit", "-p", "www/examples/react"]).dir(root).run()?;
    cmd(&bin("vite"), &["build", "--config", "www/examples/react/vite.config.ts"])
        .dir(root)
        .run()?;
    cmd(&bin("next"), &["build", "www/examples/next"])
        .dir(root)
        .env("NEXT_TELEMETRY_DISABLED", "1")
        .run()
}

/// Named steps with their durations, printed at the end so slow steps are visible.
#[derive(Default)]
struct Steps(Vec<(&'static str, f64)>);

impl Steps {
    fn run<T>(&mut self, name: &'static str, step: impl FnOnce() -> Result<T>) -> Result<T> {
        println!("\n==> {name}");
        let started = Instant::now();
        let outcome = step().map_err(|e| format!("{name} failed: {e}"));
        self.0.push((name, started.elapsed().as_secs_f64()));
        outcome
    }

    fn report(&self) {
        println!("\nAll checks passed:");
        for (name, seconds) in &self.0 {
            println!("  {seconds:>7.1} s  {name}");
        }
    }
}
