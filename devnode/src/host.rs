//! The `Host` check of a node bound to a loopback address: a defence against DNS rebinding,
//! where a web page's own host name is made to resolve to 127.0.0.1, so that the browser
//! treats the node as the page's origin and lets the page read and write it. The browser
//! still sends the page's host name in `Host`, so only the names a loopback address has are
//! accepted, with the bound port.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use crate::error::ApiError;

/// The `Host` values a node bound to a loopback address answers.
#[derive(Debug, Clone)]
pub(crate) struct LoopbackHosts {
    bound_ip: IpAddr,
    port: u16,
}

impl LoopbackHosts {
    /// `Some` for a loopback bind; other binds were allowed on purpose and are not checked.
    pub(crate) fn for_bind(bound: SocketAddr) -> Option<Self> {
        bound.ip().is_loopback().then_some(Self { bound_ip: bound.ip(), port: bound.port() })
    }

    /// `localhost`, `127.0.0.1`, `[::1]` or the bound address itself (any case), followed by
    /// `:port`; the port may be left out only when it is HTTP's default, 80.
    fn accepts(&self, host: &str) -> bool {
        let (name, port) = match host.rfind(':') {
            // A colon inside brackets belongs to an IPv6 address, not a port.
            Some(i) if !host[i..].contains(']') => (&host[..i], Some(&host[i + 1..])),
            _ => (host, None),
        };
        let port_ok = match port {
            Some(digits) => {
                digits.bytes().all(|b| b.is_ascii_digit()) && digits.parse() == Ok(self.port)
            }
            None => self.port == 80,
        };
        let bound = match self.bound_ip {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        port_ok
            && ["localhost", "127.0.0.1", "[::1]", &bound]
                .iter()
                .any(|known| name.eq_ignore_ascii_case(known))
    }
}

/// Answers 403 (code 7) to a request whose `Host` is not one of this node's names.
pub(crate) async fn check(
    State(hosts): State<LoopbackHosts>,
    req: Request,
    next: Next,
) -> Response {
    let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok());
    match host {
        Some(host) if hosts.accepts(host) => next.run(req).await,
        _ => ApiError::forbidden(format!(
            "Host {:?} is not this node's loopback address (127.0.0.1, localhost or [::1] with \
             port {})",
            host.unwrap_or(""),
            hosts.port
        ))
        .into_response(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::LoopbackHosts;

    fn hosts(bound: &str) -> LoopbackHosts {
        LoopbackHosts::for_bind(bound.parse().unwrap()).unwrap()
    }

    #[test]
    fn loopback_names_with_the_bound_port() {
        let node = hosts("127.0.0.1:5555");
        for ok in ["127.0.0.1:5555", "localhost:5555", "LOCALHOST:5555", "[::1]:5555"] {
            assert!(node.accepts(ok), "{ok}");
        }
        for bad in [
            "evil.example:5555",
            "localhost.evil.example:5555",
            "127.0.0.1:5556",
            "127.0.0.1",
            "localhost",
            "127.0.0.1:+5555",
            "127.0.0.1:05555x",
            "localhost:5555:5555",
            "[::1]",
            "",
        ] {
            assert!(!node.accepts(bad), "{bad}");
        }
    }

    #[test]
    fn the_bound_address_and_port_80() {
        assert!(hosts("127.0.0.2:8000").accepts("127.0.0.2:8000"));
        assert!(hosts("[::1]:8000").accepts("[::1]:8000"));
        assert!(hosts("127.0.0.1:80").accepts("localhost"));
        assert!(hosts("[::1]:80").accepts("[::1]"));
    }

    #[test]
    fn other_binds_are_not_checked() {
        assert!(LoopbackHosts::for_bind("0.0.0.0:5555".parse().unwrap()).is_none());
        assert!(LoopbackHosts::for_bind("192.168.1.2:5555".parse().unwrap()).is_none());
    }
}
