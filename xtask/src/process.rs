//! Running commands, and devnode as a child process.

use std::{
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use crate::Result;

/// A command about to run, printed before it does.
pub(crate) struct Cmd(Command);

pub(crate) fn cmd(program: &str, args: &[&str]) -> Cmd {
    let mut command = Command::new(program);
    command.args(args);
    Cmd(command)
}

impl Cmd {
    pub(crate) fn args(mut self, args: &[&str]) -> Self {
        self.0.args(args);
        self
    }

    pub(crate) fn env(mut self, key: &str, value: &str) -> Self {
        self.0.env(key, value);
        self
    }

    pub(crate) fn env_os(mut self, key: &str, value: &std::ffi::OsStr) -> Self {
        self.0.env(key, value);
        self
    }

    pub(crate) fn dir(mut self, dir: &Path) -> Self {
        self.0.current_dir(dir);
        self
    }

    /// Runs to completion, failing unless it exits 0.
    pub(crate) fn run(mut self) -> Result {
        println!("$ {}", self.describe());
        let status = self.0.status().map_err(|e| format!("cannot run {}: {e}", self.describe()))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("{} exited with {status}", self.describe()))
        }
    }

    /// Whether it runs and exits 0, quietly (for probing what is installed).
    pub(crate) fn succeeds(mut self) -> bool {
        self.0.stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    }

    /// Its standard output, if it exits 0.
    pub(crate) fn output(mut self) -> Option<String> {
        let output = self.0.stderr(Stdio::null()).output().ok()?;
        output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    fn describe(&self) -> String {
        let args: Vec<_> = self.0.get_args().map(|a| a.to_string_lossy()).collect();
        format!("{} {}", self.0.get_program().to_string_lossy(), args.join(" "))
    }
}

/// Builds devnode (debug) and returns the binary's path.
pub(crate) fn build_devnode(root: &Path) -> Result<PathBuf> {
    cmd("cargo", &["build", "--quiet", "-p", "devnode"]).dir(root).run()?;
    Ok(target_dir(root).join("debug/devnode"))
}

/// Where cargo puts its output: CARGO_TARGET_DIR (relative to the root) if set.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or(root.join("target"), |d| root.join(d))
}

/// A devnode child process, stopped when dropped (also when a step fails).
pub(crate) struct Devnode {
    child: Child,
    url: String,
    admin_token: Option<String>,
}

/// Whether devnode's admin routes (faults, stats reset) are on, for the tests that drive them.
pub(crate) enum Admin {
    Off,
    /// On, behind this token.
    Token(String),
    /// On, behind a fresh random token.
    RandomToken,
}

impl Devnode {
    /// Builds and starts devnode on `listen` (port 0 picks a free port) and reads the URL
    /// it prints.
    pub(crate) fn start(root: &Path, listen: &str, admin: Admin) -> Result<Self> {
        Self::spawn(&build_devnode(root)?, listen, admin, &[])
    }

    /// Starts an already built devnode `binary` with more arguments (`--database URL`).
    pub(crate) fn spawn(
        binary: &Path,
        listen: &str,
        admin: Admin,
        more_args: &[&str],
    ) -> Result<Self> {
        let admin_token = match admin {
            Admin::Off => None,
            Admin::Token(token) => Some(token),
            Admin::RandomToken => Some(random_token()),
        };
        let mut command = Command::new(binary);
        command.args(["--listen", listen]).args(more_args);
        if let Some(token) = &admin_token {
            command.args(["--admin-token", token]);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut stdout = BufReader::new(child.stdout.take().ok_or("devnode has no stdout")?);
        let mut line = String::new();
        let read = stdout.read_line(&mut line);
        let mut devnode = Self { child, url: String::new(), admin_token };
        read.map_err(|e| format!("cannot read devnode's address: {e}"))?;
        devnode.url = line
            .trim()
            .strip_prefix("devnode listening on ")
            .ok_or_else(|| format!("devnode did not start: {line:?}"))?
            .to_owned();
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || {
            let _ = stdout.read_to_end(&mut Vec::new());
        });
        println!("devnode listening on {}", devnode.url);
        Ok(devnode)
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The admin token, if the admin routes are on ("" otherwise).
    pub(crate) fn admin_token(&self) -> &str {
        self.admin_token.as_deref().unwrap_or_default()
    }
}

/// 128 random bits in hex, from the standard library's randomly keyed hasher (no dependency
/// for a token that lives as long as one test run).
fn random_token() -> String {
    use std::hash::{BuildHasher as _, RandomState};
    let half = || RandomState::new().hash_one(std::process::id());
    format!("{:016x}{:016x}", half(), half())
}

impl Drop for Devnode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
