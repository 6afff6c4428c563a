//! Losses: what moved from the victims to the exploiters' side at or after the incident start.

use std::collections::{BTreeMap, HashSet};

use chaintrace_core::{Address, Asset, Chain, TxHash, U256};
use chaintrace_graph::{Graph, NodeId};

use super::{Value, Valuer};

/// One transfer counted as a loss.
#[derive(Debug, Clone, PartialEq)]
pub struct LossTransfer {
    /// Transaction.
    pub tx_hash: TxHash,
    /// Victim.
    pub from: Address,
    /// Exploiter-side receiver.
    pub to: Address,
    /// Block time.
    pub time: u64,
    /// Amount, valued at the close of its day.
    pub value: Value,
}

/// Losses of one asset on one chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Loss {
    /// Total; `usd` is the sum of the transfers' values, `None` if any transfer lacks a price.
    pub value: Value,
    /// The transfers, in time order.
    pub transfers: Vec<LossTransfer>,
}

/// Every transfer from a victim node to a node of `receivers` at or after `started`, grouped per chain and
/// asset (in chain, then asset order).
pub fn losses(
    g: &Graph,
    victims: &[NodeId],
    receivers: &HashSet<NodeId>,
    started: u64,
    valuer: &Valuer<'_>,
) -> Vec<Loss> {
    let mut by_asset: BTreeMap<(Chain, Asset), Loss> = BTreeMap::new();
    let mut seen_victims = HashSet::new();
    for &v in victims {
        if !seen_victims.insert(v) {
            continue;
        }
        let chain = g.node_chain(v);
        let window = g.seqs_in_time(chain, Some(started), None);
        for e in g.out_edges(v) {
            if !window.contains(&g.edge_seq(e)) || !receivers.contains(&g.edge_dst(e)) {
                continue;
            }
            let info = g.edge_info(e);
            let value = valuer.value(chain, info.asset, info.amount, info.time);
            let loss = by_asset.entry((chain, info.asset)).or_insert_with(|| Loss {
                value: Value {
                    usd: Some(0.0),
                    raw: U256::ZERO,
                    ..value.clone()
                },
                transfers: Vec::new(),
            });
            loss.value.raw = loss.value.raw.saturating_add(info.amount);
            loss.value.usd = loss.value.usd.zip(value.usd).map(|(a, b)| a + b);
            loss.transfers.push(LossTransfer {
                tx_hash: info.tx_hash,
                from: info.from,
                to: info.to,
                time: info.time,
                value,
            });
        }
    }
    let mut out: Vec<Loss> = by_asset.into_values().collect();
    for l in &mut out {
        l.transfers.sort_by_key(|t| (t.time, t.tx_hash));
    }
    out
}
