//! Checking the `nodeUrl` option: a relative or malformed URL would make every request a
//! `fetch` of some path on the page's own origin, failing quietly forever. A few lines here
//! instead of a URL crate in the wasm.

/// Checks that `url` is an absolute `http:` or `https:` URL with a host (and, if given, a
/// numeric port); the error says what was expected and what was given.
pub fn check_node_url(url: &str) -> Result<(), String> {
    let invalid = || {
        format!(
            "nodeUrl must be an absolute http(s) URL such as \"http://127.0.0.1:5555\", got {url:?}"
        )
    };
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &url[8..]
    } else if lower.starts_with("http://") {
        &url[7..]
    } else {
        return Err(invalid());
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Credentials in the URL are allowed by `fetch` only on some browsers; the host follows them.
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = match host_port.strip_prefix('[') {
        // An IPv6 literal: `[::1]:5555`.
        Some(v6) => match v6.split_once(']') {
            Some((host, after)) if !host.is_empty() => match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':').ok_or_else(invalid)?)),
            },
            _ => return Err(invalid()),
        },
        None => match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    let port_ok =
        port.is_none_or(|p| p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok());
    if host.is_empty() || !port_ok {
        return Err(invalid());
    }
    Ok(())
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
            assert!(error.ends_with(&format!("got {url:?}")), "{error}");
        }
        assert_eq!(
            check_node_url("not a url").unwrap_err(),
            r#"nodeUrl must be an absolute http(s) URL such as "http://127.0.0.1:5555", got "not a url""#
        );
    }
}
