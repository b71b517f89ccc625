//! Checking the `nodeUrl` option: a relative or malformed URL would make every request a
//! `fetch` of some path on the page's own origin, failing quietly forever. The browser's own
//! URL parser (the one `fetch` uses) reads it: no URL code in the wasm, and no disagreement
//! with `fetch` about what a URL is; what is accepted is decided here.

/// Why `url` is not usable as the node's URL, given what the browser's URL parser read from
/// it (`None`: not a URL; else its protocol, like `"https:"`, and its host name): it must be
/// an absolute `http:` or `https:` URL with a host.
pub fn node_url_error(url: &str, parsed: Option<(&str, &str)>) -> Option<String> {
    match parsed {
        Some(("http:" | "https:", host)) if !host.is_empty() => None,
        // Quoted by hand: `{:?}` would bring the Unicode escaping tables into the wasm.
        _ => Some(format!(
            "nodeUrl must be an absolute http(s) URL such as \"http://127.0.0.1:5555\", got \"{url}\""
        )),
    }
}

/// Checks `url` with the browser's URL parser; the error says what was expected and what
/// was given.
#[cfg(target_arch = "wasm32")]
pub fn check_node_url(url: &str) -> Result<(), String> {
    use wasm_bindgen::prelude::*;

    #[wasm_bindgen]
    extern "C" {
        /// The browser's `URL`.
        #[wasm_bindgen(js_name = URL)]
        type Url;
        /// `new URL(url)`: throws if `url` is not an absolute URL.
        #[wasm_bindgen(constructor, catch, js_class = "URL")]
        fn new(url: &str) -> Result<Url, JsValue>;
        #[wasm_bindgen(method, getter, js_class = "URL")]
        fn protocol(this: &Url) -> String;
        #[wasm_bindgen(method, getter, js_class = "URL")]
        fn hostname(this: &Url) -> String;
    }

    let parsed = Url::new(url).ok().map(|u| (u.protocol(), u.hostname()));
    match node_url_error(url, parsed.as_ref().map(|(p, h)| (p.as_str(), h.as_str()))) {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::node_url_error;

    #[test]
    fn only_http_urls_with_a_host_pass() {
        assert_eq!(node_url_error("http://127.0.0.1:5555", Some(("http:", "127.0.0.1"))), None);
        assert_eq!(node_url_error("https://node.example", Some(("https:", "node.example"))), None);
        for (url, parsed) in [
            ("not a url", None),
            ("localhost:5555", Some(("localhost:", ""))),
            ("ws://127.0.0.1:5555", Some(("ws:", "127.0.0.1"))),
            ("file:///tmp/node", Some(("file:", ""))),
            ("http://", None),
        ] {
            let error = node_url_error(url, parsed).unwrap_or_default();
            assert!(error.starts_with("nodeUrl must be an absolute http(s) URL"), "{url}: {error}");
            assert!(error.ends_with(&format!("got \"{url}\"")), "{error}");
        }
        assert_eq!(
            node_url_error("not a url", None).unwrap_or_default(),
            r#"nodeUrl must be an absolute http(s) URL such as "http://127.0.0.1:5555", got "not a url""#
        );
    }
}
