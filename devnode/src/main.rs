//! The `devnode` binary: serves the XMTP message API v1 on a local address.

use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use devnode::{AllowedOrigins, AppState, Options, Rate, RateLimits};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

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
    /// An origin whose web pages may use the node (CORS), as browsers send it:
    /// https://app.example.com. Repeatable; `*` allows any. Default: loopback pages only.
    #[arg(long, value_name = "ORIGIN")]
    allow_origin: Vec<String>,
    /// Message API requests allowed per second per client IP (IPv6: per /64); over it, 429.
    /// Default: off.
    #[arg(long, value_name = "PER_SEC")]
    rate_limit_ip: Option<f64>,
    /// Requests one client IP may send at once above --rate-limit-ip (default: the rate).
    #[arg(long, value_name = "N", requires = "rate_limit_ip", default_value_t = 0)]
    rate_limit_ip_burst: u32,
    /// Publish, query and subscribe requests allowed per second per content topic; over
    /// it, 429. Default: off.
    #[arg(long, value_name = "PER_SEC")]
    rate_limit_topic: Option<f64>,
    /// Requests one topic may take at once above --rate-limit-topic (default: the rate).
    #[arg(long, value_name = "N", requires = "rate_limit_topic", default_value_t = 0)]
    rate_limit_topic_burst: u32,
    /// Behind a proxy or load balancer: rate-limit by the last X-Forwarded-For address (the
    /// one the proxy appended) instead of the peer address. Only if every request passes
    /// that proxy.
    #[arg(long)]
    trust_forwarded_for: bool,
    /// Log format on stderr; the level comes from RUST_LOG (default: info; `debug` logs
    /// every request).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per event (for log collectors).
    Json,
}

/// Logs to stderr (stdout carries only the address line). `RUST_LOG` takes
/// `level` and `target=level` items (`info,devnode=debug`); tracing's regex
/// filter syntax is left out, as it would double the logging code's build.
fn init_logs(format: LogFormat) {
    let from_env = std::env::var("RUST_LOG").ok().map(|v| v.parse::<Targets>().map_err(|e| (v, e)));
    let filter = match &from_env {
        Some(Ok(targets)) => targets.clone(),
        _ => Targets::new().with_default(LevelFilter::INFO),
    };
    let registry = tracing_subscriber::registry().with(filter);
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => {
            registry.with(layer.with_ansi(std::io::stderr().is_terminal())).init();
        }
        LogFormat::Json => registry.with(layer.json().with_current_span(true)).init(),
    }
    if let Some(Err((value, e))) = from_env {
        tracing::warn!("ignoring RUST_LOG={value:?} ({e}); logging at info");
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    init_logs(args.log_format);
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
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
        tracing::warn!(
            "WARNING: listening on {}, not a loopback address: anyone who can reach it can \
             read and write every topic{}",
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
        tracing::info!("admin routes on (/devnode/faults, /devnode/stats/reset)");
    }
    let allow_origins = AllowedOrigins::from_flags(&args.allow_origin)?;
    let rate = |flag: &str, per_second: Option<f64>, burst: u32| {
        per_second.map(|r| Rate::new(r, burst).map_err(|e| format!("--{flag}: {e}"))).transpose()
    };
    let rate_limits = RateLimits {
        per_ip: rate("rate-limit-ip", args.rate_limit_ip, args.rate_limit_ip_burst)?,
        per_topic: rate("rate-limit-topic", args.rate_limit_topic, args.rate_limit_topic_burst)?,
        trust_forwarded_for: args.trust_forwarded_for,
    };
    let options = Options {
        data: args.data,
        seed: args.seed,
        admin_token: args.admin_token,
        database: args.database,
        retention_days: args.retention_days,
        allow_origins,
        rate_limits,
        ..Options::default()
    };
    let state = AppState::new(options).await.map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let bound = listener.local_addr().map_err(|e| format!("cannot read bound address: {e}"))?;
    let shutdown = shutdown_signal()?;
    // Scripts and tests parse this exact line to learn the real port.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "devnode listening on http://{bound}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write to stdout: {e}"))?;
    drop(stdout);
    tracing::info!(address = %bound, "listening");
    devnode::serve(listener, state, shutdown).await.map_err(|e| format!("server error: {e}"))?;
    tracing::info!("stopped");
    Ok(())
}

/// Registers for SIGINT (ctrl-c) and SIGTERM right away, so a signal sent
/// as soon as the address line is out (before the server first polls) still
/// shuts down gracefully; the future resolves on the first of them.
fn shutdown_signal() -> Result<impl Future<Output = ()>, String> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let register = |kind| signal(kind).map_err(|e| format!("cannot handle signals: {e}"));
        let mut interrupt = register(SignalKind::interrupt())?;
        let mut terminate = register(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
                _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        // Without a handler there is no graceful path to wait for.
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("ctrl-c: shutting down");
        }
    })
}
