//! Random identifiers from the platform's secure source (`crypto.getRandomValues` in the
//! browser).

/// `N` random bytes as lower-case hex, or `None` if the platform has no secure random source
/// (never the case in a browser; callers turn it into a typed error, not a panic).
pub fn random_hex<const N: usize>() -> Option<String> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).ok()?;
    Some(crate::wire::hex(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_hex_is_fresh_and_sized() {
        let (a, b) = (random_hex::<16>(), random_hex::<16>());
        assert_eq!(a.as_ref().map(String::len), Some(32));
        assert_ne!(a, b);
        assert!(
            a.is_some_and(|h| h.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()))
        );
    }
}
