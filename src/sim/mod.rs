//! A deterministic simulator of the state steps, natively: several accounts with one to three
//! installations each send to one another at random over one in-memory node, while the seed
//! crashes and restarts installations between any two store calls or node requests (memory
//! dropped, store kept), runs two processors on one store now and then, switches the node's
//! faults, makes clocks jump and corrupts payloads in flight. Then faults stop, everything
//! settles, and the invariants of `check` are checked against what the users were promised.
//!
//! The schedule, the faults and the messages are a function of the seed; the Olm keys are
//! not (vodozemac draws them from the system), so a replay takes the same path except where
//! ciphertext bytes break a tie (two envelopes with the same timestamp).
//!
//! `cargo test` runs the short run (`SIM_SEEDS`, default 200, from `SIM_FIRST_SEED`); the
//! long run is `cargo xtask sim`; a failing seed prints the command that replays it.

mod check;
mod executor;
mod hostile_contacts;
mod hostile_ids;
mod hostile_payloads;
mod world;

use executor::Rng;
pub(crate) use executor::block_on;
use world::World;

/// The size of one seed's world and storm.
#[derive(Debug, Clone)]
pub(crate) struct Scale {
    /// Most accounts (at least two).
    pub(crate) accounts: u64,
    /// Most installations per account.
    pub(crate) devices: u64,
    /// Most messages sent.
    pub(crate) messages: u64,
}

impl Scale {
    /// The short run's: small worlds, many seeds.
    pub(crate) const SHORT: Self = Self { accounts: 3, devices: 2, messages: 24 };
    /// The long run's.
    pub(crate) const LONG: Self = Self { accounts: 3, devices: 3, messages: 36 };
}

/// What one seed did.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) messages: usize,
    pub(crate) crashes: u32,
    pub(crate) added: u32,
    pub(crate) revoked: u32,
    pub(crate) attacks: usize,
    pub(crate) ticks: u64,
    pub(crate) violations: Vec<String>,
}

/// The most ticks a storm or a settling may take.
const MAX_STORM_TICKS: u64 = 400_000;
const MAX_SETTLE_TICKS: u64 = 400_000;

/// Runs one seed.
pub(crate) fn run(seed: u64, scale: &Scale) -> Outcome {
    let mut rng = Rng::new(seed);
    let accounts = 2 + rng.below(scale.accounts - 1) as usize;
    let devices: Vec<usize> =
        (0..accounts).map(|_| 1 + rng.below(scale.devices) as usize).collect();
    let budget = (scale.messages / 2 + rng.below(scale.messages / 2 + 1)) as u32;
    let mut world = match World::new(rng.next_u64(), &devices, budget) {
        Ok(world) => world,
        Err(e) => return Outcome { violations: vec![format!("setup: {e}")], ..Outcome::default() },
    };
    let mut outcome = Outcome::default();
    let n = world.devices.len();
    for d in 0..n {
        let second = world.rng.chance(0.3);
        world.boot(d, second);
    }
    // Rates per tick, and per save.
    let crash_rate = [0.0, 0.0005, 0.002][rng.below(3) as usize];
    world.save_fault_rate.set([0.0, 0.005, 0.03][rng.below(3) as usize]);
    let mut restarts: Vec<(u64, usize)> = Vec::new();
    let mut tick = 0u64;
    while world.budget.get() > 0 && tick < MAX_STORM_TICKS {
        tick += 1;
        world.clock.advance(world.rng.below(4));
        world.executor.tick(&mut world.rng);
        if world.rng.chance(crash_rate) {
            let d = world.rng.below(n as u64) as usize;
            if world.is_up(d) {
                world.crash(d);
                outcome.crashes += 1;
                // Mostly a reload; now and then a closed laptop (a long gap to catch up).
                let delay = if world.rng.chance(0.2) { 3_000 } else { world.rng.below(400) };
                restarts.push((tick + delay, d));
            }
        }
        restart_due(&mut world, &mut restarts, tick);
        if world.rng.chance(0.002) {
            let on = world.rng.chance(0.6);
            world.set_faults(on);
        }
        if world.rng.chance(0.0005) {
            let d = world.rng.below(n as u64) as usize;
            let jump = world.rng.below(40_001) as i64 - 20_000;
            let offset = &world.devices[d].offset;
            offset.set((offset.get() + jump).clamp(-60_000, 60_000));
        }
        if world.rng.chance(0.0003) {
            let d = world.rng.below(n as u64) as usize;
            world.corrupt(d);
        }
        if world.rng.chance(0.004) {
            hostile_payloads::attack(&mut world);
        }
        if world.rng.chance(0.0003) && world.devices.len() < 8 && world.add_device() {
            outcome.added += 1;
        }
        if world.rng.chance(0.002) {
            hostile_contacts::attack(&mut world);
        }
        if world.rng.chance(0.0004) {
            let d = world.rng.below(world.devices.len() as u64) as usize;
            if world.revoke(d) {
                outcome.revoked += 1;
            }
        }
        // Attackers: wallets of no account here, publishing what any wallet can.
        if world.rng.chance(0.0004) {
            hostile_ids::pre_empt(&mut world);
        }
    }
    // Settle: faults off, everyone up, nothing new sent.
    world.sending.set(false);
    world.set_faults(false);
    world.save_fault_rate.set(0.0);
    restart_due(&mut world, &mut restarts, u64::MAX);
    let mut settle = 0u64;
    let mut quiet_checks = 0;
    while settle < MAX_SETTLE_TICKS {
        settle += 1;
        // Faster than in the storm: notices wait a minute between two to one installation.
        world.clock.advance(world.rng.below(40));
        world.executor.tick(&mut world.rng);
        if settle % 2_000 == 0 {
            quiet_checks = if check::settled(&world) { quiet_checks + 1 } else { 0 };
            if quiet_checks >= 3 {
                break;
            }
        }
    }
    outcome.ticks = tick + settle;
    outcome.attacks = world.hostile.hashes.borrow().len();
    outcome.messages = world.devices.iter().map(|d| d.promised.borrow().len()).sum();
    if quiet_checks < 3 {
        outcome.violations.push("the world did not settle".into());
    }
    outcome.violations.extend(check::violations(&world));
    outcome
}

fn restart_due(world: &mut World, restarts: &mut Vec<(u64, usize)>, tick: u64) {
    let (due, later): (Vec<_>, Vec<_>) = restarts.drain(..).partition(|(at, _)| *at <= tick);
    *restarts = later;
    for (_, d) in due {
        if !world.is_up(d) {
            let second = world.rng.chance(0.3);
            world.boot(d, second);
        }
    }
}

/// The command that replays `seed`.
pub(crate) fn replay_command(seed: u64, long: bool) -> String {
    format!(
        "SIM_SEED={seed}{} cargo test -p e2ee-sdk --lib sim::tests::replay -- --ignored --nocapture",
        if long { " SIM_LONG=1" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str, default: u64) -> u64 {
        std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
    }

    /// Runs `count` seeds from `first`; fails listing every failing seed and its replay.
    fn run_many(first: u64, count: u64, scale: &Scale, long: bool) {
        let started = std::time::Instant::now();
        let mut failures = Vec::new();
        let (mut messages, mut crashes, mut added, mut revoked, mut attacks) = (0, 0, 0, 0, 0);
        for seed in first..first + count {
            let outcome = run(seed, scale);
            messages += outcome.messages;
            crashes += outcome.crashes;
            added += outcome.added;
            revoked += outcome.revoked;
            attacks += outcome.attacks;
            if !outcome.violations.is_empty() {
                eprintln!(
                    "seed {seed}: {} violations, e.g. {}",
                    outcome.violations.len(),
                    outcome.violations[0]
                );
                eprintln!("  replay: {}", replay_command(seed, long));
                failures.push(seed);
            }
        }
        eprintln!(
            "simulated {count} seeds from {first}: {messages} messages, {crashes} crashes, \
             {added} installations added and {revoked} revoked mid-run, {attacks} hostile \
             payloads, {} failing, in {:.1?}",
            failures.len(),
            started.elapsed()
        );
        assert!(failures.is_empty(), "failing seeds: {failures:?}");
    }

    #[test]
    fn short_run() {
        run_many(env("SIM_FIRST_SEED", 0), env("SIM_SEEDS", 200), &Scale::SHORT, false);
    }

    #[test]
    #[ignore = "the long run: cargo xtask sim"]
    fn long_run() {
        run_many(env("SIM_FIRST_SEED", 1_000_000), env("SIM_SEEDS", 10_000), &Scale::LONG, true);
    }

    #[test]
    #[ignore = "replays SIM_SEED"]
    fn replay() {
        let seed = env("SIM_SEED", 0);
        let scale = if env("SIM_LONG", 0) == 1 { Scale::LONG } else { Scale::SHORT };
        let outcome = run(seed, &scale);
        eprintln!("{outcome:#?}");
        assert!(outcome.violations.is_empty());
    }
}
