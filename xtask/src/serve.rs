//! A static server for the demo: `www/` at `/`, the built package at `/pkg/` (so the page
//! imports the SDK exactly as an app that serves `pkg/` would) and ethers' browser build at
//! `/vendor/ethers/` for the visitor's wallet.

use std::{net::SocketAddr, path::Path};

use axum::Router;
use tokio::{net::TcpListener, runtime::Runtime, sync::oneshot};
use tower_http::services::ServeDir;

use crate::Result;

/// The running server; stops when dropped.
pub(crate) struct Site {
    runtime: Runtime,
    address: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl Site {
    pub(crate) fn start(root: &Path, listen: &str) -> Result<Self> {
        let runtime = Runtime::new().map_err(|e| format!("cannot start a runtime: {e}"))?;
        let listener = runtime
            .block_on(TcpListener::bind(listen))
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        let app = Router::new()
            .nest_service("/pkg", ServeDir::new(root.join("pkg")))
            .nest_service("/vendor/ethers", ServeDir::new(root.join("node_modules/ethers/dist")))
            .fallback_service(ServeDir::new(root.join("www")));
        let (stop, stopped) = oneshot::channel::<()>();
        runtime.spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                let _ = stopped.await;
            });
            if let Err(e) = serve.await {
                eprintln!("demo server failed: {e}");
            }
        });
        println!("serving www/ on http://{address}");
        Ok(Self { runtime, address, _stop: stop })
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Blocks until the user presses ctrl-c.
    pub(crate) fn wait_for_ctrl_c(&self) {
        let _ = self.runtime.block_on(tokio::signal::ctrl_c());
    }
}
