//! CORS for browser-based SDK tests: any port on a loopback host may call
//! the node; every other origin gets no CORS headers (so browsers refuse).

use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The CORS layer wrapped around every route, including the fallback, so
/// that error bodies are readable from the browser too.
pub(crate) fn layer() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(|origin: &HeaderValue, _| {
            is_loopback_origin(origin.as_bytes())
        }))
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            HeaderName::from_static("x-client-version"),
            HeaderName::from_static("x-app-version"),
        ])
        .max_age(Duration::from_secs(600))
}

/// Wrapped outside [`layer`]: tower-http still sends the static
/// `access-control-allow-methods/headers/max-age` on a preflight from a
/// foreign origin (only `allow-origin` is left out). Strip them so foreign
/// origins get no CORS headers at all and nothing suggests they are welcome.
pub(crate) async fn strip_for_foreign_origins(req: Request, next: Next) -> Response {
    let foreign =
        req.headers().get(header::ORIGIN).is_some_and(|o| !is_loopback_origin(o.as_bytes()));
    let mut response = next.run(req).await;
    if foreign {
        let names: Vec<HeaderName> = response
            .headers()
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in names {
            response.headers_mut().remove(name);
        }
    }
    response
}

/// `http(s)://{localhost|127.0.0.1|[::1]}[:port]`, nothing more (a suffix
/// like `localhost.evil.example` or a path must not pass).
pub(crate) fn is_loopback_origin(origin: &[u8]) -> bool {
    let Ok(origin) = std::str::from_utf8(origin) else {
        return false;
    };
    let Some(rest) = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let port = ["localhost", "127.0.0.1", "[::1]"]
        .iter()
        .find_map(|host| strip_prefix_ignore_case(rest, host));
    match port {
        Some("") => true,
        Some(p) => p.strip_prefix(':').is_some_and(|digits| {
            digits.bytes().all(|b| b.is_ascii_digit()) && digits.parse::<u16>().is_ok()
        }),
        None => false,
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) { text.get(prefix.len()..) } else { None }
}

#[cfg(test)]
mod tests {
    use super::is_loopback_origin;

    #[test]
    fn loopback_origins() {
        for ok in [
            "http://localhost",
            "http://localhost:3000",
            "https://localhost:8443",
            "http://127.0.0.1:8080",
            "http://[::1]:5173",
            "http://LOCALHOST:1",
        ] {
            assert!(is_loopback_origin(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "https://evil.example",
            "http://localhost.evil.example",
            "http://localhost:3000.evil.example",
            "http://localhost:",
            "http://localhost:99999",
            "http://127.0.0.1:80/path",
            "ftp://localhost",
            "null",
            "http://127.0.0.10",
            "http://localhost:+80",
        ] {
            assert!(!is_loopback_origin(bad.as_bytes()), "{bad}");
        }
    }
}
