//! Fuzz targets for every decoder of untrusted bytes (native tests only, on stable Rust with
//! `proptest`): what the node serves (JSON answers, stream lines, envelopes), what peers
//! publish (contact entries, inbox payloads, notices, Olm messages, the plaintexts inside),
//! what the app and wallets hand in (addresses, signatures, topics, keys), and what is read
//! back from storage (records, sealed pickles).
//!
//! Each target feeds its decoder random inputs and mutations of valid encodings (bits
//! flipped, truncated, extended, spliced, a length field set huge) and checks that it answers
//! a value or a typed error, never a panic; that no single allocation is driven by a length
//! the input claims rather than by its size ([`alloc_probe`]); and, where a decoded value is
//! encoded again, that the encoding reads back the same.
//!
//! `FUZZ_CASES` sets the cases per target (default [`DEFAULT_CASES`], the test command's short
//! run; `cargo xtask fuzz --cases N` is the long run) and `FUZZ_SEED` the seed, so a failure
//! prints the command that replays it. Findings become plain regression tests beside their
//! decoder; proptest's persistence files are off.

// Test code: a failing target panics, as a failing test does.
#![allow(clippy::panic)]

mod alloc_probe;
mod crypto;
mod inputs;
mod net;
mod records;
mod wire;

use proptest::{
    strategy::Strategy,
    test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner},
};

/// Cases per target in the test command's short run.
const DEFAULT_CASES: u32 = 256;

/// The seed when `FUZZ_SEED` is unset.
const DEFAULT_SEED: u64 = 0x5eed_f022;

/// Cases per target: `FUZZ_CASES`, else [`DEFAULT_CASES`].
fn cases() -> u32 {
    env_number("FUZZ_CASES").map_or(DEFAULT_CASES, |n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// The run's seed: `FUZZ_SEED`, else [`DEFAULT_SEED`].
fn seed() -> u64 {
    env_number("FUZZ_SEED").unwrap_or(DEFAULT_SEED)
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// What one case of a target answers: whether the decoder gave a value (rather than its
/// typed error); `Err` fails the case (and is shrunk).
type Outcome = Result<bool, TestCaseError>;

/// Runs `target` on `cases()` inputs from `inputs`, with a seed drawn from the run's seed and
/// the target's name (so targets do not share inputs, and adding one shifts no other).
/// Panics with the failing input, shrunk, and the command that replays the run; also when
/// no input of a run of [`DEFAULT_CASES`] or more decoded (the valid inputs no longer are).
/// Prints the counts (seen with `--nocapture`).
fn fuzz<S: Strategy>(name: &str, inputs: S, target: impl Fn(S::Value) -> Outcome) {
    let (seed, cases) = (seed(), cases());
    match run(name, seed, cases, inputs, target) {
        Ok(decoded) => {
            println!("fuzz {name}: {cases} cases, {decoded} decoded to a value, seed {seed}");
            assert!(
                decoded > 0 || cases < DEFAULT_CASES,
                "fuzz target {name}: none of {cases} inputs decoded; are its valid inputs still valid?"
            );
        }
        Err(failure) => panic!(
            "{failure}\nreplay: FUZZ_SEED={seed} FUZZ_CASES={cases} cargo test --profile sim -p \
             e2ee-sdk --lib fuzz::"
        ),
    }
}

/// [`fuzz`]'s run: how many inputs decoded, or the failure with its shrunk input.
fn run<S: Strategy>(
    name: &str,
    seed: u64,
    cases: u32,
    inputs: S,
    target: impl Fn(S::Value) -> Outcome,
) -> Result<u64, String> {
    let config = Config {
        cases,
        failure_persistence: None,
        // Shrinking a panic re-panics once per step: keep it short.
        max_shrink_iters: 2_000,
        ..Config::default()
    };
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes(seed, name));
    let decoded = std::cell::Cell::new(0u64);
    let outcome = TestRunner::new_with_rng(config, rng).run(&inputs, |input| {
        decoded.set(decoded.get() + u64::from(target(input)?));
        Ok(())
    });
    match outcome {
        Ok(()) => Ok(decoded.get()),
        Err(TestError::Abort(reason)) => Err(format!("fuzz target {name} aborted: {reason}")),
        Err(TestError::Fail(reason, input)) => {
            Err(format!("fuzz target {name} failed: {reason}\nminimal input: {input:?}"))
        }
    }
}

/// 32 seed bytes from the run's seed and a target's name (FNV-1a, then spread).
fn seed_bytes(seed: u64, name: &str) -> [u8; 32] {
    let mut hash = 0xcbf2_9ce4_8422_2325_u64 ^ seed;
    for byte in name.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut bytes = [0u8; 32];
    for (i, chunk) in bytes.chunks_exact_mut(8).enumerate() {
        let word = hash.wrapping_add(0x9e37_79b9_7f4a_7c15_u64.wrapping_mul(i as u64 + 1));
        chunk.copy_from_slice(
            &(word ^ (word >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9).to_le_bytes(),
        );
    }
    bytes
}

/// Fails the case unless `holds`.
fn check(holds: bool, what: impl FnOnce() -> String) -> Result<(), TestCaseError> {
    if holds { Ok(()) } else { Err(TestCaseError::fail(what())) }
}

/// Runs `decode` on `input`, failing the case if any single allocation it makes is larger
/// than the input justifies: a few bytes per input byte, plus working room.
fn bounded<T>(input_len: usize, decode: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    const WORKING_ROOM: usize = 1 << 20;
    let (value, largest) = alloc_probe::largest_allocation(decode);
    let allowed = input_len.saturating_mul(8).saturating_add(WORKING_ROOM);
    check(largest <= allowed, || {
        format!("allocated {largest} bytes at once for a {input_len}-byte input")
    })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn targets_draw_different_seeds_from_one_run_seed() {
        assert_ne!(seed_bytes(1, "a"), seed_bytes(1, "b"));
        assert_ne!(seed_bytes(1, "a"), seed_bytes(2, "a"));
        assert_eq!(seed_bytes(7, "a"), seed_bytes(7, "a"));
    }

    #[test]
    fn a_failing_target_reports_its_shrunk_input() {
        let always = |n: u8| check(n < 200, || "too big".into()).map(|()| true);
        let failure = run("always_fails", 1, 256, proptest::num::u8::ANY, always).unwrap_err();
        assert!(failure.contains("always_fails failed: too big"), "{failure}");
        assert!(failure.ends_with("minimal input: 200"), "{failure}");
        assert_eq!(
            run("counts", 1, 256, proptest::num::u8::ANY, |n| Ok(n % 2 == 0)).map(|n| n > 0),
            Ok(true)
        );
    }

    #[test]
    fn a_decoder_allocating_past_its_input_fails_the_case() {
        assert!(bounded(5, || std::hint::black_box(vec![0u8; 64 << 20]).len()).is_err());
        assert_eq!(bounded(5, || std::hint::black_box(vec![0u8; 5]).len()).unwrap(), 5);
    }
}
