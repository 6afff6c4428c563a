//! Precision and recall of bridge matching and swap detection on generated data with ground truth and
//! noise. The figures are printed (run with `--nocapture`) and copied into /work/notes/bench-defi.md.

use std::collections::HashMap;

use chaintrace_defi::bridge::{MatchConfig, MatchVerdict, match_bridge_events};
use chaintrace_defi::swap::{DexRegistry, detect_conversions};

use crate::scenario::{bridge_scenario, swap_scenario};

struct Score {
    matched: usize,
    correct: usize,
    truth: usize,
    in_candidates: usize,
    ambiguous: usize,
    weak: usize,
}

fn score_bridges(seed: u64, n: usize, noise: bool) -> Score {
    let s = bridge_scenario(seed, n, noise);
    let m = match_bridge_events(&s.deposits, &s.releases, &MatchConfig::default());
    let mut sc = Score {
        matched: 0,
        correct: 0,
        truth: 0,
        in_candidates: 0,
        ambiguous: 0,
        weak: 0,
    };
    for dm in &m {
        let truth = s.truth[dm.deposit];
        if truth.is_some() {
            sc.truth += 1;
        }
        if truth.is_some_and(|t| dm.candidates.iter().any(|c| c.release == t)) {
            sc.in_candidates += 1;
        }
        match dm.verdict {
            MatchVerdict::Matched => {
                sc.matched += 1;
                if truth == Some(dm.candidates[0].release) {
                    sc.correct += 1;
                }
            }
            MatchVerdict::Ambiguous => sc.ambiguous += 1,
            MatchVerdict::Weak => sc.weak += 1,
            MatchVerdict::Unmatched => {}
        }
        for c in &dm.candidates {
            assert!(s.releases[c.release].timestamp >= s.deposits[dm.deposit].timestamp);
            if c.by_message_id {
                assert_eq!(truth, Some(c.release), "a message-id match is never wrong");
            }
        }
    }
    sc
}

#[test]
fn bridge_matching_precision_and_recall_on_generated_data() {
    for (noise, min_precision, min_recall) in [(false, 0.999, 0.9), (true, 0.98, 0.85)] {
        let sc = score_bridges(7, 20_000, noise);
        let precision = sc.correct as f64 / sc.matched.max(1) as f64;
        let recall = sc.correct as f64 / sc.truth.max(1) as f64;
        let cand_recall = sc.in_candidates as f64 / sc.truth.max(1) as f64;
        eprintln!(
            "bridge matching (noise={noise}): deposits with a true release {}, matched {}, correct {}, \
             precision {precision:.4}, recall {recall:.4}, truth among candidates {cand_recall:.4}, \
             ambiguous {}, weak {}",
            sc.truth, sc.matched, sc.correct, sc.ambiguous, sc.weak
        );
        assert!(precision >= min_precision, "precision {precision}");
        assert!(recall >= min_recall, "recall {recall}");
        assert!(cand_recall >= recall);
    }
}

#[test]
fn swap_detection_precision_and_recall_on_generated_data() {
    let s = swap_scenario(11, 20_000);
    let conv = detect_conversions(&s.logs, &s.transfers, &DexRegistry::builtin());
    let mut by_tx: HashMap<_, Vec<_>> = HashMap::new();
    for c in &conv {
        by_tx.entry(c.tx_hash).or_default().push(c);
    }
    let mut correct = 0usize;
    let mut wrong = 0usize;
    for (tx, cs) in &by_tx {
        let ok = cs.len() == 1
            && s.truth.get(tx).is_some_and(|t| {
                let c = cs[0];
                *t == (
                    c.owner,
                    c.recipient,
                    c.asset_in,
                    c.amount_in,
                    c.asset_out,
                    c.amount_out,
                )
            });
        if ok { correct += 1 } else { wrong += 1 }
    }
    let precision = correct as f64 / (correct + wrong).max(1) as f64;
    let recall = correct as f64 / s.truth.len().max(1) as f64;
    eprintln!(
        "swap detection: {} txs, {} true conversions, {} transactions with a detected conversion, correct {correct}, \
         precision {precision:.4}, recall {recall:.4}",
        s.txs,
        s.truth.len(),
        by_tx.len()
    );
    assert!(precision >= 0.95, "precision {precision}");
    assert!(recall >= 0.98, "recall {recall}");
}

#[test]
fn mixer_link_precision_per_heuristic_on_generated_data() {
    use chaintrace_defi::mixer::{LinkConfig, MixerHeuristic, link_mixer};

    use crate::scenario::mixer_scenario;

    for users in [2_000u32, 20_000] {
        let s = mixer_scenario(5, users);
        let links = link_mixer(&s.deposits, &s.withdrawals, &LinkConfig::default());
        let mut per: HashMap<MixerHeuristic, (usize, usize)> = HashMap::new();
        let mut confident = (0usize, 0usize);
        for l in &links {
            let user = s.deposit_user[l.deposits[0]];
            let correct = l.deposits.iter().all(|&d| s.deposit_user[d] == user)
                && l.withdrawals.iter().all(|&w| s.withdrawal_user[w] == user);
            let e = per.entry(l.heuristic).or_default();
            e.0 += 1;
            e.1 += usize::from(correct);
            if l.confidence >= 0.5 {
                confident.0 += 1;
                confident.1 += usize::from(correct);
            }
        }
        let mut rows: Vec<_> = per.iter().collect();
        rows.sort();
        for (h, (n, ok)) in &rows {
            eprintln!(
                "mixer ({users} users, {} deposits): {:<20} links {n:>6}, correct {ok:>6}, precision {:.3}",
                s.deposits.len(),
                h.name(),
                *ok as f64 / (*n).max(1) as f64
            );
        }
        let confident_precision = confident.1 as f64 / confident.0.max(1) as f64;
        eprintln!(
            "mixer ({users} users): links with confidence >= 0.5: {}, precision {confident_precision:.3}",
            confident.0
        );
        assert!(confident_precision >= 0.85, "{confident_precision}");
        let precision = |h: MixerHeuristic| per.get(&h).map(|(n, ok)| *ok as f64 / (*n).max(1) as f64);
        assert!(precision(MixerHeuristic::SameAddress).is_some_and(|p| p >= 0.95));
        assert!(precision(MixerHeuristic::UniqueGasPrice).is_some_and(|p| p >= 0.9));
        if users <= 2_000 {
            // Quiet pools only: with 20,000 users no deposit is alone in its window.
            assert!(per.contains_key(&MixerHeuristic::LoneDepositTiming));
        }
    }
}
