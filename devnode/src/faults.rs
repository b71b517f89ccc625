//! Fault injection, so SDK tests can exercise retries, dedup and stream
//! recovery against a node that misbehaves on purpose, reproducibly.
//!
//! Every decision is drawn from a seeded RNG. Publishes, query duplication
//! and each subscribe stream draw from separate RNG streams derived from the
//! seed, so that e.g. a concurrent query cannot shift which publish fails:
//! the same config plus the same sequence of requests replays exactly.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::api::de_u64;

/// The fault configuration; every field missing means "off".
///
/// Posting a config replaces the whole previous one and reseeds the RNGs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct FaultConfig {
    /// Seed of the decision RNGs (accepted as a JSON number or string).
    #[serde(deserialize_with = "de_u64")]
    pub seed: u64,
    /// Share of publishes answered 503 (code 14) without storing anything.
    pub publish_fail_rate: f64,
    /// Milliseconds added before answering every publish, query and
    /// batch-query request.
    pub latency_ms: u64,
    /// Share of publishes that are stored and then answered 503 (code 14),
    /// as if the acknowledgement had been lost on the way back.
    pub drop_ack_rate: f64,
    /// Share of envelopes delivered twice, in query pages and in streams.
    pub duplicate_rate: f64,
    /// Share of stream envelopes held back and emitted after the next one.
    pub reorder_rate: f64,
    /// The node closes each subscribe stream after delivering this many
    /// envelopes (`0` closes it at once); absent means never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_cut_after: Option<u32>,
}

impl FaultConfig {
    /// Checks that every rate lies within `0..=1`.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [
            ("publishFailRate", self.publish_fail_rate),
            ("dropAckRate", self.drop_ack_rate),
            ("duplicateRate", self.duplicate_rate),
            ("reorderRate", self.reorder_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("expected {name} within 0..1, got {rate}"));
            }
        }
        Ok(())
    }
}

/// What to do with one publish request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PublishFault {
    /// Store and acknowledge.
    None,
    /// Answer 503 without storing.
    Fail,
    /// Store, then answer 503.
    DropAck,
}

/// The config in force plus the RNGs its decisions are drawn from.
#[derive(Debug)]
pub(crate) struct Faults {
    config: FaultConfig,
    publish_rng: StdRng,
    query_rng: StdRng,
    streams_opened: u64,
}

// Labels that separate the RNG streams derived from one seed.
const PUBLISH_STREAM: u64 = 1;
const QUERY_STREAM: u64 = 2;
const FIRST_SUBSCRIBE_STREAM: u64 = 3;

impl Faults {
    /// Installs a config and reseeds every RNG from its seed.
    pub(crate) fn new(config: FaultConfig) -> Self {
        let seed = config.seed;
        Self {
            config,
            publish_rng: rng_for(seed, PUBLISH_STREAM),
            query_rng: rng_for(seed, QUERY_STREAM),
            streams_opened: 0,
        }
    }

    /// The config in force.
    pub(crate) fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// Decides the fate of one (valid) publish request.
    pub(crate) fn publish(&mut self) -> PublishFault {
        if chance(&mut self.publish_rng, self.config.publish_fail_rate) {
            PublishFault::Fail
        } else if chance(&mut self.publish_rng, self.config.drop_ack_rate) {
            PublishFault::DropAck
        } else {
            PublishFault::None
        }
    }

    /// Whether to deliver one query result twice.
    pub(crate) fn duplicate_in_query(&mut self) -> bool {
        chance(&mut self.query_rng, self.config.duplicate_rate)
    }

    /// Fault settings and a private RNG for a newly opened stream; the n-th
    /// stream since the config was installed always gets the same RNG.
    pub(crate) fn open_stream(&mut self) -> StreamFaults {
        let label = FIRST_SUBSCRIBE_STREAM.wrapping_add(self.streams_opened);
        self.streams_opened += 1;
        StreamFaults {
            duplicate_rate: self.config.duplicate_rate,
            reorder_rate: self.config.reorder_rate,
            cut_after: self.config.stream_cut_after,
            rng: rng_for(self.config.seed, label),
        }
    }
}

/// The faults one subscribe stream applies, fixed when it opened.
#[derive(Debug)]
pub(crate) struct StreamFaults {
    duplicate_rate: f64,
    reorder_rate: f64,
    pub(crate) cut_after: Option<u32>,
    rng: StdRng,
}

impl StreamFaults {
    /// Whether to emit this envelope twice.
    pub(crate) fn duplicate(&mut self) -> bool {
        chance(&mut self.rng, self.duplicate_rate)
    }

    /// Whether to hold this envelope back until after the next one.
    pub(crate) fn reorder(&mut self) -> bool {
        chance(&mut self.rng, self.reorder_rate)
    }
}

/// A rate of 0 never fires and draws nothing; otherwise one draw.
fn chance(rng: &mut StdRng, rate: f64) -> bool {
    rate > 0.0 && rng.random::<f64>() < rate
}

fn rng_for(seed: u64, label: u64) -> StdRng {
    StdRng::seed_from_u64(splitmix64(seed ^ splitmix64(label)))
}

/// SplitMix64 finalizer: spreads nearby seeds/labels far apart.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_decisions() {
        let config = FaultConfig { seed: 7, publish_fail_rate: 0.5, ..FaultConfig::default() };
        let run = |c: &FaultConfig| {
            let mut f = Faults::new(c.clone());
            (0..64).map(|_| f.publish()).collect::<Vec<_>>()
        };
        let a = run(&config);
        assert_eq!(a, run(&config));
        assert!(a.contains(&PublishFault::Fail) && a.contains(&PublishFault::None));
    }

    #[test]
    fn rates_outside_unit_interval_rejected() {
        let bad = FaultConfig { reorder_rate: 1.5, ..FaultConfig::default() };
        assert!(bad.validate().is_err());
        assert!(FaultConfig::default().validate().is_ok());
    }
}
