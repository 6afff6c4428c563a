//! Benchmarks of chaintrace-defi on generated data (run with `--release`):
//! bridge matching of ~10^5 deposits against ~10^5 releases, swap detection over >= 10^6 logs, and
//! mixer linking over ~10^5 deposits and withdrawals.
//!
//! `cargo run --release -p chaintrace-defi --example bench_defi`

#[path = "../tests/it/scenario.rs"]
mod scenario;

use std::time::{Duration, Instant};

use chaintrace_defi::bridge::{MatchConfig, MatchVerdict, match_bridge_events};
use chaintrace_defi::mixer::{LinkConfig, link_mixer};
use chaintrace_defi::swap::{DexRegistry, detect_conversions};

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut out = None;
    for _ in 0..runs {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed());
        out = Some(r);
    }
    (best, out.expect("runs >= 1"))
}

fn main() {
    let t = Instant::now();
    let s = scenario::bridge_scenario(1, 100_000, true);
    println!(
        "bridge: generated {} deposits, {} releases in {:.2?}",
        s.deposits.len(),
        s.releases.len(),
        t.elapsed()
    );
    let config = MatchConfig::default();
    let (took, m) = best_of(3, || match_bridge_events(&s.deposits, &s.releases, &config));
    let matched = m.iter().filter(|d| d.verdict == MatchVerdict::Matched).count();
    let correct = m
        .iter()
        .filter(|d| d.verdict == MatchVerdict::Matched && s.truth[d.deposit] == Some(d.candidates[0].release))
        .count();
    let truth = s.truth.iter().filter(|t| t.is_some()).count();
    println!(
        "bridge: match_bridge_events best of 3 = {took:.2?} ({truth} deposits with a true release, {matched} matched, {correct} correct)"
    );

    let t = Instant::now();
    let sw = scenario::swap_scenario(2, 320_000);
    let token_logs = sw
        .transfers
        .iter()
        .filter(|t| matches!(t.position, chaintrace_core::Position::Log(_)))
        .count();
    println!(
        "swaps: generated {} txs: {} decoded-event logs + {} token-transfer logs = {} logs, {} transfers in {:.2?}",
        sw.txs,
        sw.logs.len(),
        token_logs,
        sw.logs.len() + token_logs,
        sw.transfers.len(),
        t.elapsed()
    );
    let registry = DexRegistry::builtin();
    let (took, conv) = best_of(3, || detect_conversions(&sw.logs, &sw.transfers, &registry));
    println!(
        "swaps: detect_conversions best of 3 = {took:.2?} ({} conversions)",
        conv.len()
    );

    let mx = scenario::mixer_scenario(3, 80_000);
    let link_config = LinkConfig::default();
    let (took, links) = best_of(3, || link_mixer(&mx.deposits, &mx.withdrawals, &link_config));
    println!(
        "mixer: link_mixer over {} deposits x {} withdrawals best of 3 = {took:.2?} ({} candidate links)",
        mx.deposits.len(),
        mx.withdrawals.len(),
        links.len()
    );
}
