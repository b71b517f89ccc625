//! `cargo xtask fuzz [--cases N] [--seed S] [--jobs J]`: the decoders' fuzz targets
//! (`src/fuzz/`) with N cases each (default 100,000), optimised, not part of the test command
//! (which runs 256 cases each). Each target prints its cases and how many decoded to a value;
//! a failure prints its shrunk input and the seed that replays it.

use std::time::Instant;

use crate::{Result, process::cmd, root};

const USAGE: &str = "usage: cargo xtask fuzz [--cases N] [--seed S] [--jobs J]";

pub(crate) fn fuzz(args: &[String]) -> Result {
    let (mut cases, mut seed, mut jobs) = ("100000".to_owned(), None, "1".to_owned());
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let slot = match flag.as_str() {
            "--cases" => &mut cases,
            "--jobs" => &mut jobs,
            "--seed" => seed.insert(String::new()),
            _ => return Err(format!("unknown argument {flag}\n{USAGE}")),
        };
        match args.next().filter(|n| n.parse::<u64>().is_ok()) {
            Some(number) => number.clone_into(slot),
            None => return Err(format!("{flag} needs a number\n{USAGE}")),
        }
    }
    let test = ["test", "--profile", "sim", "-p", "e2ee-sdk", "--lib", "fuzz::"];
    let mut run = cmd("cargo", &test)
        .args(&["--", "--nocapture", "--test-threads", &jobs])
        .dir(&root())
        .env("FUZZ_CASES", &cases);
    if let Some(seed) = &seed {
        run = run.env("FUZZ_SEED", seed);
    }
    let started = Instant::now();
    let outcome = run.run();
    println!("\nfuzz: {cases} cases per target in {:.0?}", started.elapsed());
    outcome
}
