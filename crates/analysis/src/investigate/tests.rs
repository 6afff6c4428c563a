use std::collections::HashMap;

use chaintrace_core::{
    ActorId, Address, Asset, Category, Chain, Confidence, Label, Position, Transfer, TransferKind, TxHash,
    U256,
};
use chaintrace_graph::{Graph, StoreStamp};

use super::*;

const T0: u64 = 1_694_476_800; // 2023-09-12

fn a(i: u8) -> Address {
    Address([i; 20])
}

fn eth(x: u64) -> U256 {
    U256::from(x) * U256::from(10u64).pow(U256::from(18u64))
}

/// (tx, seconds after T0, from, to, whole ETH) on ethereum.
fn graph(rows: &[(u8, u64, u8, u8, u64)]) -> Graph {
    let ts = rows.iter().map(|&(tx, dt, from, to, amount)| Transfer {
        chain: Chain::Ethereum,
        block: 18_000_000 + dt,
        timestamp: T0 + dt,
        tx_hash: TxHash([tx; 32]),
        position: Position::Tx,
        from: a(from),
        to: a(to),
        asset: Asset::Native,
        amount: eth(amount),
        kind: TransferKind::Native,
        tx_from: a(from),
        tx_fee: U256::ZERO,
        gas_price: U256::ZERO,
    });
    Graph::from_transfers(ts.collect::<Vec<_>>(), StoreStamp::default()).expect("graph builds")
}

fn label(
    addr: u8,
    chain: Option<Chain>,
    category: Category,
    actor: Option<&str>,
    conf: u8,
    text: &str,
) -> Label {
    Label {
        chain,
        address: a(addr),
        text: text.to_string(),
        category,
        category_raw: None,
        abuse: None,
        actor: actor.map(|s| ActorId(s.to_string())),
        source: "test".to_string(),
        confidence: Confidence::new(conf).expect("<= 100"),
    }
}

fn incident() -> Incident {
    Incident {
        name: "test".into(),
        started: T0,
        victims: vec![(Chain::Ethereum, a(1))],
        exploiters: vec![(Chain::Ethereum, a(2))],
        tokens: Vec::new(),
    }
}

/// Victim 1 drains 10 ETH to exploiter 2 (plus 1 ETH a day before the start); 2 sends 6 to hop 3, which pays
/// 6 into exchange 9 (labeled, with actor "bigex"); 4 ETH stay at 2.
fn world() -> Graph {
    graph(&[
        (1, 0, 1, 2, 10),
        (9, 0, 1, 2, 0),
        (2, 600, 2, 3, 6),
        (3, 1200, 3, 9, 6),
    ])
}

fn run(g: &Graph, labels: &[Label], prices: &PriceTable) -> Investigation {
    let actors: HashMap<ActorId, ActorFacts> = HashMap::new();
    let assets = AssetBook::with_known_tokens();
    let inputs = Inputs {
        graph: g,
        labels,
        actors: &actors,
        assets: &assets,
        prices,
        conversions: trace::Conversions::All(&[]),
        balance_index: None,
    };
    investigate(&inputs, &incident(), &Options::default()).expect("investigation runs")
}

#[test]
fn losses_count_only_victim_to_exploiter_after_the_start_and_price_by_day() {
    let g = graph(&[(7, 0, 1, 2, 1), (1, 86_400, 1, 2, 10), (2, 86_400 + 60, 2, 3, 10)]);
    let mut inc = incident();
    inc.started = T0 + 3600;
    let mut prices = PriceTable::new();
    prices.insert("ETH", prices::day_of_unix(T0 + 86_400), 2000.0);
    let actors: HashMap<ActorId, ActorFacts> = HashMap::new();
    let assets = AssetBook::with_known_tokens();
    let inputs = Inputs {
        graph: &g,
        labels: &[],
        actors: &actors,
        assets: &assets,
        prices: &prices,
        conversions: trace::Conversions::All(&[]),
        balance_index: None,
    };
    let inv = investigate(&inputs, &inc, &Options::default()).expect("runs");
    assert_eq!(inv.losses.len(), 1);
    assert_eq!(inv.losses[0].value.raw, eth(10));
    assert_eq!(inv.losses[0].value.usd, Some(20_000.0));
    assert_eq!(inv.losses[0].transfers.len(), 1);
    // Without a price the value is missing, never zero.
    let empty = PriceTable::new();
    let inputs = Inputs {
        prices: &empty,
        ..inputs
    };
    let inv = investigate(&inputs, &inc, &Options::default()).expect("runs");
    assert_eq!(inv.losses[0].value.usd, None);
}

#[test]
fn an_exchange_that_received_funds_is_an_exit_never_an_actor() {
    let g = world();
    let labels = [label(
        9,
        Some(Chain::Ethereum),
        Category::Exchange,
        Some("bigex"),
        100,
        "BigEx: hot wallet",
    )];
    let inv = run(&g, &labels, &PriceTable::new());
    assert!(inv.attribution.is_empty(), "{:?}", inv.attribution);
    assert!(inv.notes.iter().any(|n| n.contains("no one is named")));
    assert_eq!(inv.exits.len(), 1);
    assert_eq!(inv.exits[0].entity, "bigex");
    assert_eq!(inv.exits[0].category, "exchange");
    assert_eq!(inv.exits[0].totals[0].raw, eth(6));
    let rest: U256 = inv
        .destinations
        .iter()
        .map(|d| d.value.raw)
        .fold(U256::ZERO, |x, y| x + y);
    assert_eq!(
        rest,
        eth(4),
        "haircut: what did not reach the exit rests at the exploiter"
    );
}

#[test]
fn a_reused_exploiter_address_names_its_actor_with_the_documented_confidence() {
    let g = world();
    let labels = [
        label(
            2,
            Some(Chain::Ethereum),
            Category::Perpetrator,
            Some("lazarus"),
            90,
            "Lazarus: earlier heist",
        ),
        label(
            9,
            Some(Chain::Ethereum),
            Category::Exchange,
            None,
            100,
            "BigEx: hot wallet",
        ),
    ];
    let inv = run(&g, &labels, &PriceTable::new());
    assert_eq!(inv.attribution.len(), 1);
    let top = &inv.attribution[0];
    assert_eq!(top.actor.as_str(), "lazarus");
    // One finding: reused address 0.95 x label 0.90; capped by the label's 0.90.
    assert!((top.confidence - 0.95 * 0.90).abs() < 1e-9, "{}", top.confidence);
    let kinds: Vec<&str> = top.evidence().iter().map(|e| e.kind.name()).collect();
    assert_eq!(kinds, ["reused_address", "label"]);
}

#[test]
fn a_label_on_another_chain_links_through_the_same_address_and_noisy_or_combines() {
    let g = world();
    let labels = [
        // Same 20 bytes as exploiter 2, labeled on BSC only.
        label(
            2,
            Some(Chain::Bsc),
            Category::Perpetrator,
            Some("lazarus"),
            80,
            "Lazarus: bsc heist",
        ),
        // Hop 3 received stolen funds directly from the exploiter.
        label(
            3,
            Some(Chain::Ethereum),
            Category::Perpetrator,
            Some("lazarus"),
            80,
            "Lazarus: consolidation",
        ),
    ];
    let inv = run(&g, &labels, &PriceTable::new());
    let top = &inv.attribution[0];
    let kinds: Vec<&str> = top.evidence().iter().map(|e| e.kind.name()).collect();
    assert!(
        kinds.contains(&"same_address_cross_chain") && kinds.contains(&"reused_address"),
        "{kinds:?}"
    );
    assert_eq!(top.findings.len(), 2, "{:?}", top.findings);
    let s: Vec<f64> = top.findings.iter().map(|f| f.strength).collect();
    let expected = (1.0 - (1.0 - s[0]) * (1.0 - s[1])).min(0.80);
    assert!((top.confidence - expected).abs() < 1e-9);
    assert!(top.confidence <= 0.80, "never above the best label's confidence");
}
