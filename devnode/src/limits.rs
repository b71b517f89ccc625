//! Rate limits: token buckets per client IP (every message API request) and
//! per content topic (each publish, query and subscribe counts once for every
//! distinct topic it names). Over the limit the node answers 429, code 8,
//! with `retry-after`.
//!
//! Both are off unless configured: on the default loopback bind every client
//! is 127.0.0.1, so a per-IP limit would only throttle the test suites and
//! the demo against each other, and no default rate fits every deployment.
//!
//! Memory is bounded: a bucket that has refilled completely is the same as
//! no bucket, so such buckets are swept out; topics are kept as keyed 64-bit
//! hashes (an attacker picks topic names, and their length); and at most
//! [`MAX_BUCKETS`] keys are tracked at once, beyond which new keys are
//! refused (429) until old ones refill.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher as _, Hash};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use tokio::time::Instant;

use crate::error::ApiError;
use crate::metrics::LimitKind;
use crate::{AppState, lock};

/// Most keys one limiter tracks at once (a few MiB at most).
pub(crate) const MAX_BUCKETS: usize = 100_000;

/// A sustained rate and the burst allowed on top of it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    per_second: f64,
    burst: f64,
}

impl Rate {
    /// `per_second` requests per second sustained, up to `burst` at once
    /// (a burst of 0 means the same as `per_second`, at least 1).
    pub fn new(per_second: f64, burst: u32) -> Result<Self, String> {
        if !(per_second.is_finite() && per_second > 0.0) {
            return Err(format!("a rate must be a positive number per second, got {per_second}"));
        }
        let burst = if burst == 0 { per_second.ceil().max(1.0) } else { f64::from(burst) };
        Ok(Self { per_second, burst })
    }
}

/// Which rate limits a node applies; all off by default.
#[derive(Debug, Clone, Default)]
pub struct RateLimits {
    /// Message API requests per client IP (IPv6 by /64).
    pub per_ip: Option<Rate>,
    /// Publish, query and subscribe requests per content topic.
    pub per_topic: Option<Rate>,
    /// Take the client IP from the last `X-Forwarded-For` entry (the one a
    /// trusted proxy appended), not the peer address. Only behind a proxy
    /// that sets it: otherwise any client could pick its own IP.
    pub trust_forwarded_for: bool,
}

/// The limiters of one node.
#[derive(Debug)]
pub(crate) struct Limiter {
    per_ip: Option<Buckets<IpAddr>>,
    per_topic: Option<Buckets<u64>>,
    trust_forwarded_for: bool,
    topic_hasher: RandomState,
}

impl Limiter {
    pub(crate) fn new(limits: &RateLimits) -> Self {
        Self {
            per_ip: limits.per_ip.map(Buckets::new),
            per_topic: limits.per_topic.map(Buckets::new),
            trust_forwarded_for: limits.trust_forwarded_for,
            topic_hasher: RandomState::new(),
        }
    }

    /// Takes one token for each distinct topic, all or none.
    pub(crate) fn check_topics<'a>(
        &self,
        topics: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), Duration> {
        let Some(buckets) = &self.per_topic else { return Ok(()) };
        let mut keys: Vec<u64> =
            topics.into_iter().map(|t| self.topic_hasher.hash_one(t)).collect();
        keys.sort_unstable();
        keys.dedup();
        buckets.take(&keys, Instant::now())
    }

    fn check_ip(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> Result<(), Duration> {
        let Some(buckets) = &self.per_ip else { return Ok(()) };
        let forwarded = if self.trust_forwarded_for { forwarded_for(headers) } else { None };
        // In-process callers (tests driving the router) have no peer: nothing to key on.
        let Some(ip) = forwarded.or(peer) else { return Ok(()) };
        buckets.take(&[client_key(ip)], Instant::now())
    }
}

/// The last address of the last `X-Forwarded-For` header: what the proxy
/// in front of us saw, as opposed to what the client claims further left.
fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    let last = headers.get_all("x-forwarded-for").iter().next_back()?;
    last.to_str().ok()?.rsplit(',').next()?.trim().parse().ok()
}

/// One key per IPv4 address and per IPv6 /64 (what one host is usually
/// given, so rotating addresses inside it gains nothing).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(v6.to_bits() & !u128::from(u64::MAX))),
        },
    }
}

/// Middleware on the message API routes: the per-IP limit.
pub(crate) async fn limit_by_ip(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if let Err(wait) = state.limiter().check_ip(req.headers(), peer) {
        state.metrics().rate_limited(LimitKind::Ip);
        return Err(ApiError::rate_limited("too many requests from this client", wait));
    }
    Ok(next.run(req).await)
}

/// The per-topic limit, for handlers once they know the request's topics.
pub(crate) fn limit_topics<'a>(
    state: &AppState,
    topics: impl IntoIterator<Item = &'a str>,
) -> Result<(), ApiError> {
    state.limiter().check_topics(topics).map_err(|wait| {
        state.metrics().rate_limited(LimitKind::Topic);
        ApiError::rate_limited("too many requests on a content topic of this request", wait)
    })
}

#[derive(Debug)]
struct Buckets<K> {
    rate: Rate,
    table: Mutex<Table<K>>,
}

#[derive(Debug)]
struct Table<K> {
    buckets: HashMap<K, Bucket>,
    last_sweep: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl<K: Hash + Eq + Copy> Buckets<K> {
    fn new(rate: Rate) -> Self {
        Self {
            rate,
            table: Mutex::new(Table { buckets: HashMap::new(), last_sweep: Instant::now() }),
        }
    }

    /// Time for an empty bucket to fill up again.
    fn refill_time(&self) -> Duration {
        Duration::from_secs_f64(self.rate.burst / self.rate.per_second)
    }

    fn tokens_at(&self, bucket: Option<&Bucket>, now: Instant) -> f64 {
        bucket.map_or(self.rate.burst, |b| {
            let refilled = now.saturating_duration_since(b.updated).as_secs_f64();
            (b.tokens + refilled * self.rate.per_second).min(self.rate.burst)
        })
    }

    /// Takes a token from each key's bucket if every one has a token; else
    /// takes none and says how long until they all would.
    fn take(&self, keys: &[K], now: Instant) -> Result<(), Duration> {
        let mut table = lock(&self.table);
        let refill = self.refill_time();
        if now.saturating_duration_since(table.last_sweep) >= refill.max(Duration::from_secs(1)) {
            table.buckets.retain(|_, b| now.saturating_duration_since(b.updated) < refill);
            table.last_sweep = now;
        }
        let mut wait = Duration::ZERO;
        let mut new_keys = 0;
        for key in keys {
            let bucket = table.buckets.get(key);
            new_keys += usize::from(bucket.is_none());
            let tokens = self.tokens_at(bucket, now);
            if tokens < 1.0 {
                wait = wait.max(Duration::from_secs_f64((1.0 - tokens) / self.rate.per_second));
            }
        }
        if wait.is_zero() && table.buckets.len() + new_keys > MAX_BUCKETS {
            // Full of keys that are all still refilling: refuse rather than grow or forget.
            wait = Duration::from_secs(1);
        }
        if !wait.is_zero() {
            return Err(wait);
        }
        for key in keys {
            let tokens = self.tokens_at(table.buckets.get(key), now);
            table.buckets.insert(*key, Bucket { tokens: tokens - 1.0, updated: now });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::net::IpAddr;
    use std::time::Duration;

    use axum::http::HeaderMap;
    use tokio::time::Instant;

    use super::{Buckets, MAX_BUCKETS, Rate, client_key, forwarded_for};

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let buckets = Buckets::new(Rate::new(2.0, 3).unwrap());
        let t0 = Instant::now();
        for _ in 0..3 {
            buckets.take(&[1u8], t0).unwrap();
        }
        assert_eq!(buckets.take(&[1], t0), Err(Duration::from_millis(500)));
        // Other keys have their own bucket.
        buckets.take(&[2], t0).unwrap();
        let later = t0 + Duration::from_millis(500);
        buckets.take(&[1], later).unwrap();
        assert!(buckets.take(&[1], later).is_err());
    }

    #[test]
    fn several_keys_are_taken_all_or_none() {
        let buckets = Buckets::new(Rate::new(1.0, 1).unwrap());
        let t0 = Instant::now();
        buckets.take(&[1u8], t0).unwrap();
        assert!(buckets.take(&[2, 1], t0).is_err());
        // Key 2 was not charged by the refused request.
        buckets.take(&[2], t0).unwrap();
    }

    #[test]
    fn full_buckets_are_swept_and_the_key_count_is_capped() {
        let buckets = Buckets::new(Rate::new(1000.0, 1).unwrap());
        let t0 = Instant::now();
        for key in 0..MAX_BUCKETS as u32 {
            buckets.take(&[key], t0).unwrap();
        }
        assert_eq!(buckets.take(&[u32::MAX], t0), Err(Duration::from_secs(1)));
        // Once they have refilled, the old buckets go and new keys fit again.
        let later = t0 + Duration::from_secs(1);
        buckets.take(&[u32::MAX], later).unwrap();
        assert_eq!(super::lock(&buckets.table).buckets.len(), 1);
    }

    #[test]
    fn rates_must_be_positive_and_burst_defaults_to_the_rate() {
        assert!(Rate::new(0.0, 1).is_err());
        assert!(Rate::new(f64::NAN, 1).is_err());
        assert!(Rate::new(-1.0, 1).is_err());
        assert_eq!(Rate::new(2.5, 0).unwrap().burst, 3.0);
        assert_eq!(Rate::new(0.1, 0).unwrap().burst, 1.0);
    }

    #[test]
    fn client_keys_group_ipv6_by_64_and_unmap_ipv4() {
        let key = |s: &str| client_key(s.parse::<IpAddr>().unwrap());
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:10.0.0.1"), key("10.0.0.1"));
        assert_ne!(key("10.0.0.1"), key("10.0.0.2"));
    }

    #[test]
    fn the_proxy_appended_forwarded_address_is_used() {
        let mut headers = HeaderMap::new();
        assert_eq!(forwarded_for(&headers), None);
        headers.append("x-forwarded-for", "6.6.6.6, 10.0.0.7".parse().unwrap());
        assert_eq!(forwarded_for(&headers), Some("10.0.0.7".parse().unwrap()));
        headers.append("x-forwarded-for", "192.0.2.4".parse().unwrap());
        assert_eq!(forwarded_for(&headers), Some("192.0.2.4".parse().unwrap()));
        headers.insert("x-forwarded-for", "not an address".parse().unwrap());
        assert_eq!(forwarded_for(&headers), None);
    }
}
