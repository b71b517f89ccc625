//! Installs what a fresh machine of this kind lacks, and nothing when it is all there.
//!
//! Each check is a cheap probe (a file, `--version`, a listing), so a machine that has
//! everything spends well under a second here.

use std::path::Path;

use crate::{Result, process::cmd};

/// Debian's Chromium and its driver; the paths the browser tests use.
pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
pub(crate) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

const WASM_TARGET: &str = "wasm32-unknown-unknown";
const WASM_PACK_VERSION: &str = "0.15.1";

/// What a command needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Build the package and serve it.
    Demo,
    /// Everything `Demo` needs, plus Chromium and its driver, and PostgreSQL 15's server.
    Test,
}

pub(crate) fn ensure(root: &Path, need: Need) -> Result {
    let targets = cmd("rustup", &["target", "list", "--installed"]).output().unwrap_or_default();
    if !targets.lines().any(|t| t.trim() == WASM_TARGET) {
        cmd("rustup", &["target", "add", WASM_TARGET]).run()?;
    }
    if !cmd("wasm-pack", &["--version"]).succeeds() {
        cmd("cargo", &["install", "wasm-pack", "--locked", "--version", WASM_PACK_VERSION])
            .run()?;
    }

    npm_ci(root)?;

    let mut debian = Vec::new();
    if need == Need::Test {
        if !Path::new(CHROMIUM).exists() {
            debian.push("chromium");
        }
        if !Path::new(CHROMEDRIVER).exists() {
            debian.push("chromium-driver");
        }
        // devnode's PostgreSQL tests, the fail-over page test and the node load benchmark
        // start throwaway clusters of it (`pgtmp`).
        if !Path::new(pgtmp::BIN_DIR).join("initdb").exists() {
            debian.push("postgresql-15");
        }
    }
    if !debian.is_empty() {
        apt_install(&debian)?;
    }
    Ok(())
}

/// `apt-get install`, through sudo unless already root.
fn apt_install(packages: &[&str]) -> Result {
    let root_user = cmd("id", &["-u"]).output().is_some_and(|uid| uid.trim() == "0");
    let apt = |args: &[&str]| {
        let env = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"];
        let mut full: Vec<&str> =
            if root_user { env.to_vec() } else { [&["sudo"][..], &env].concat() };
        full.extend_from_slice(args);
        cmd(full[0], &full[1..]).run()
    };
    apt(&["update", "-qq"])?;
    apt(&[&["install", "-y", "-qq"][..], packages].concat())
}

/// The development npm packages (wasm-opt, Playwright, Vite, webpack, TypeScript), from the
/// lockfile, unless already installed from it.
fn npm_ci(dir: &Path) -> Result {
    let installed = dir.join("node_modules/.package-lock.json");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let fresh = match (modified(&installed), modified(&dir.join("package-lock.json"))) {
        (Some(installed), Some(lock)) => installed >= lock,
        _ => false,
    };
    if fresh {
        return Ok(());
    }
    cmd("npm", &["ci", "--no-audit", "--no-fund"]).dir(dir).run()
}
