//! Checking the `nodeUrl` option: a relative or malformed URL would make every request a
//! `fetch` of some path on the page's own origin, failing quietly forever. A few lines here
//! instead of a URL crate in the wasm.

/// Checks that `url` is an absolute `http:` or `https:` URL with a host (and, if given, a
/// numeric port); the error says what was expected and what was given.
pub fn check_node_url(url: &str) -> Result<(), String> {
    if url_is_absolute_http(url.as_bytes()) {
        return Ok(());
    }
    // Quoted by hand: `{:?}` would bring the Unicode escaping tables into the wasm.
    Err(format!(
        "nodeUrl must be an absolute http(s) URL such as \"http://127.0.0.1:5555\", got \"{url}\""
    ))
}

/// The check on bytes, with no `str` searching (each of those is more wasm).
fn url_is_absolute_http(url: &[u8]) -> bool {
    let starts =
        |prefix: &[u8]| url.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix));
    let rest = if starts(b"https://") {
        &url[8..]
    } else if starts(b"http://") {
        &url[7..]
    } else {
        return false;
    };
    // No spaces or control characters anywhere.
    if url.iter().any(|&b| b <= b' ' || b == 0x7f) {
        return false;
    }
    let end = rest.iter().position(|&b| matches!(b, b'/' | b'?' | b'#'));
    let authority = &rest[..end.unwrap_or(rest.len())];
    // Credentials may come first; the host follows the last `@`.
    let host_port = match authority.iter().rposition(|&b| b == b'@') {
        Some(at) => &authority[at + 1..],
        None => authority,
    };
    // A port is what follows the last `:`, unless that `:` is inside an IPv6 literal.
    let (host, port) = match host_port.iter().rposition(|&b| b == b':') {
        Some(colon) if !host_port[colon..].iter().any(|&b| b == b']') => {
            (&host_port[..colon], Some(&host_port[colon + 1..]))
        }
        _ => (host_port, None),
    };
    let host_ok = match host {
        [b'[', v6 @ .., b']'] => !v6.is_empty() && !v6.iter().any(|&b| matches!(b, b'[' | b']')),
        [] => false,
        _ => !host.iter().any(|&b| matches!(b, b'[' | b']' | b':')),
    };
    let port_ok = match port {
        None => true,
        Some(p) => {
            (1..=5).contains(&p.len())
                && p.iter().all(u8::is_ascii_digit)
                && p.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')) <= 65_535
        }
    };
    host_ok && port_ok
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::check_node_url;

    #[test]
    fn absolute_http_urls_with_a_host_pass() {
        for url in [
            "http://127.0.0.1:5555",
            "https://node.example.com",
            "https://node.example.com/",
            "HTTP://LOCALHOST:5555/api/",
            "http://[::1]:5555",
            "http://[::1]",
            "https://user:secret@node.example.com:443/prefix?x=1#f",
            "http://localhost:65535",
        ] {
            assert_eq!(check_node_url(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn relative_or_other_urls_are_refused_with_what_was_given() {
        for url in [
            "",
            "not a url",
            "127.0.0.1:5555",
            "localhost:5555",
            "/message",
            "//node.example.com",
            "ws://127.0.0.1:5555",
            "file:///tmp/node",
            "http://",
            "http:///path",
            "http://:5555",
            "http://host:port",
            "http://host:",
            "http://host:65536",
            "http://host:123456",
            "http://[::1",
            "http://[]:1",
            "http://[::1]x",
            "http://exa mple.com",
            "https://node.example.com\n",
        ] {
            let error = check_node_url(url).expect_err(url);
            assert!(error.starts_with("nodeUrl must be an absolute http(s) URL"), "{error}");
            assert!(error.ends_with(&format!("got \"{url}\"")), "{error}");
        }
        assert_eq!(
            check_node_url("not a url").unwrap_err(),
            r#"nodeUrl must be an absolute http(s) URL such as "http://127.0.0.1:5555", got "not a url""#
        );
    }
}
