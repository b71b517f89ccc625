//! The `devnode` binary: serves the XMTP message API v1 on a local address.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use devnode::{AppState, Options};

/// Local XMTP message API v1 node (HTTP/JSON) with fault injection.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on; port 0 picks a free port. Only loopback addresses, unless
    /// --allow-remote.
    #[arg(long, default_value = "127.0.0.1:5555")]
    listen: SocketAddr,
    /// Allow a non-loopback --listen address. The node has no authentication: whoever
    /// reaches it reads and writes every topic.
    #[arg(long)]
    allow_remote: bool,
    /// For tests: turn on the admin routes (/devnode/faults, /devnode/stats/reset), answered
    /// only with `authorization: Bearer <TOKEN>` (at least 16 visible ASCII characters).
    #[arg(long, value_name = "TOKEN")]
    admin_token: Option<String>,
    /// Keep envelopes in this append-only JSON-lines file (default: memory).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Keep envelopes in this PostgreSQL database instead
    /// (postgres://user:password@host:port/dbname; no TLS). The schema is migrated at start.
    #[arg(long, value_name = "URL", conflicts_with = "data")]
    database: Option<String>,
    /// With --database: delete envelopes stored more than DAYS days ago (at start, then hourly).
    #[arg(long, value_name = "DAYS", requires = "database")]
    retention_days: Option<u32>,
    /// Initial fault seed (all faults start off).
    #[arg(long)]
    seed: Option<u64>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("devnode: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Shortest admin token accepted: a guessable one would undo the point of having one.
const MIN_TOKEN_LEN: usize = 16;

async fn run(args: Args) -> Result<(), String> {
    if !args.listen.ip().is_loopback() {
        if !args.allow_remote {
            return Err(format!(
                "refusing to listen on {}: not a loopback address, and devnode has no \
                 authentication. Pass --allow-remote to serve other machines anyway.",
                args.listen
            ));
        }
        eprintln!(
            "devnode: WARNING: listening on {}, not a loopback address: anyone who can reach it \
             can read and write every topic{}",
            args.listen,
            if args.admin_token.is_some() {
                ", and the admin token crosses the network in clear text"
            } else {
                ""
            }
        );
    }
    if let Some(token) = &args.admin_token {
        if token.len() < MIN_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(format!(
                "--admin-token needs at least {MIN_TOKEN_LEN} visible ASCII characters"
            ));
        }
        eprintln!("devnode: admin routes on (/devnode/faults, /devnode/stats/reset)");
    }
    let options = Options {
        data: args.data,
        seed: args.seed,
        admin_token: args.admin_token,
        database: args.database,
        retention_days: args.retention_days,
        ..Options::default()
    };
    let state = AppState::new(options).await.map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let bound = listener.local_addr().map_err(|e| format!("cannot read bound address: {e}"))?;
    // Scripts and tests parse this exact line to learn the real port.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "devnode listening on http://{bound}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write to stdout: {e}"))?;
    drop(stdout);
    devnode::serve(listener, state, shutdown_signal())
        .await
        .map_err(|e| format!("server error: {e}"))
}

/// Resolves on ctrl-c or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            // No handler could be installed: rely on SIGTERM alone.
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
