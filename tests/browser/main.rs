//! Browser tests: the real wasm in headless Chromium, against a real devnode over HTTP and
//! the real IndexedDB. Run them with `cargo xtask test`, which starts devnode on a free port
//! and passes its URL in `DEVNODE_URL` at build time.

#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use gloo_net::http::Request;
use wasm_bindgen_test::wasm_bindgen_test_configure;

wasm_bindgen_test_configure!(run_in_browser);

mod at_rest;
mod client;
mod codecs;
mod failover;
mod first_hour;
mod fuzz;
mod hostile_contacts;
mod hostile_payloads;
mod identity;
mod net;
mod node_state;
mod receiving;
mod send_groups;
mod sending;
mod store;
mod wallet;

/// The devnode the test command started. Read with `option_env!` so that clippy and editors
/// can build the tests without one; only running them needs it.
#[allow(clippy::option_env_unwrap)]
fn devnode_url() -> &'static str {
    option_env!("DEVNODE_URL").expect("DEVNODE_URL is set at build time by `cargo xtask test`")
}

/// A name no other test (or earlier run) uses.
fn unique(prefix: &str) -> String {
    let nonce = (js_sys::Math::random() * 1e9) as u64;
    format!("{prefix}-{:x}-{nonce:x}", js_sys::Date::now() as u64)
}

/// Replaces devnode's fault configuration (`"{}"` turns every fault off), with the admin
/// token `cargo xtask test` started devnode with (`DEVNODE_ADMIN_TOKEN` at build time).
async fn set_faults(json: &str) {
    #[allow(clippy::option_env_unwrap)]
    let token = option_env!("DEVNODE_ADMIN_TOKEN")
        .expect("DEVNODE_ADMIN_TOKEN is set at build time by `cargo xtask test`");
    let response = Request::post(&format!("{}/devnode/faults", devnode_url()))
        .header("Content-Type", "application/json")
        .header("Authorization", &format!("Bearer {token}"))
        .body(json)
        .unwrap()
        .send()
        .await
        .unwrap();
    assert!(response.ok(), "devnode refused faults {json}: {}", response.status());
}
