//! CORS: by default any port on a loopback host may call the node (the
//! browser tests and the demo); `--allow-origin` replaces that with a list
//! (or `*`). Every other origin gets no CORS headers (so browsers refuse).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Which origins may read the node's answers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// `http(s)://localhost|127.0.0.1|[::1]` on any port.
    #[default]
    Loopback,
    /// Exactly these origins (compared ignoring ASCII case).
    Listed(Arc<[String]>),
    /// Any origin (the API has no cookies or other ambient credentials).
    Any,
}

impl AllowedOrigins {
    /// From `--allow-origin` values: `*`, or origins as browsers send them
    /// (`https://app.example.com`, `http://host:8080`: no path, no slash).
    /// No values keeps the loopback default.
    pub fn from_flags(values: &[String]) -> Result<Self, String> {
        if values.is_empty() {
            return Ok(Self::Loopback);
        }
        if values.iter().any(|v| v == "*") {
            return Ok(Self::Any);
        }
        for value in values {
            if !is_origin(value) {
                return Err(format!(
                    "--allow-origin {value:?} is not an origin: expected scheme://host[:port] \
                     with no path or trailing slash, or *"
                ));
            }
        }
        Ok(Self::Listed(values.iter().map(|v| v.to_ascii_lowercase()).collect()))
    }

    pub(crate) fn allows(&self, origin: &[u8]) -> bool {
        match self {
            Self::Loopback => is_loopback_origin(origin),
            Self::Listed(origins) => {
                origins.iter().any(|o| o.as_bytes().eq_ignore_ascii_case(origin))
            }
            Self::Any => true,
        }
    }
}

/// `http(s)://host[:port]` with a plausible host and nothing after.
fn is_origin(value: &str) -> bool {
    let Some(rest) = value.strip_prefix("http://").or_else(|| value.strip_prefix("https://"))
    else {
        return false;
    };
    let (host, port) = match rest.rsplit_once(':') {
        // A colon inside an IPv6 literal does not start a port.
        Some((host, port)) if !host.contains('[') || host.ends_with(']') => (host, Some(port)),
        _ => (rest, None),
    };
    let host_ok = !host.is_empty()
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b));
    host_ok
        && port.is_none_or(|p| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
        })
}

/// The CORS layer wrapped around every route, including the fallback, so
/// that error bodies are readable from the browser too.
pub(crate) fn layer(origins: AllowedOrigins) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            origins.allows(origin.as_bytes())
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
pub(crate) async fn strip_for_foreign_origins(
    State(origins): State<AllowedOrigins>,
    req: Request,
    next: Next,
) -> Response {
    let foreign = req.headers().get(header::ORIGIN).is_some_and(|o| !origins.allows(o.as_bytes()));
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
    #![allow(clippy::unwrap_used)]

    use super::{AllowedOrigins, is_loopback_origin};

    fn flags(values: &[&str]) -> Result<AllowedOrigins, String> {
        AllowedOrigins::from_flags(&values.iter().map(|v| (*v).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn listed_origins_replace_the_loopback_default() {
        let origins = flags(&["https://app.example.com", "http://Chat.Example:8080"]).unwrap();
        assert!(origins.allows(b"https://app.example.com"));
        assert!(origins.allows(b"http://chat.example:8080"));
        for other in
            ["http://app.example.com", "https://app.example.com:443", "http://localhost:3000"]
        {
            assert!(!origins.allows(other.as_bytes()), "{other}");
        }
        assert_eq!(flags(&[]).unwrap(), AllowedOrigins::Loopback);
        assert_eq!(flags(&["https://a.example", "*"]).unwrap(), AllowedOrigins::Any);
        assert!(AllowedOrigins::Any.allows(b"https://anything.example"));
    }

    #[test]
    fn origin_flags_must_be_origins() {
        for ok in ["https://app.example.com", "http://localhost:3000", "http://[::1]:5173"] {
            assert!(flags(&[ok]).is_ok(), "{ok}");
        }
        for bad in [
            "app.example.com",
            "https://app.example.com/",
            "https://app.example.com/path",
            "https://",
            "https://host:99999",
            "https://host:",
            "ftp://host",
            "https://a b",
        ] {
            let err = flags(&[bad]).unwrap_err();
            assert!(err.contains("--allow-origin"), "{bad}: {err}");
        }
    }

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
