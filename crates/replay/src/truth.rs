//! What the world builder did, recorded as it did it (the ground truth the live test compares the
//! investigation with), and the investigator's inputs derived from it: labels CSV, bridges CSV, mixers
//! CSV and the incident file. Pure: text in, text out.

use chaintrace_core::{Address, Chain, TxHash};
use serde::{Deserialize, Serialize};

/// Version of the ground-truth layout.
pub const TRUTH_SCHEMA_VERSION: u32 = 1;

/// The whole ground truth of one built world.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// Always [`TRUTH_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Name of the new incident.
    pub incident_name: String,
    /// The incident's start (RFC 3339), before the first drain.
    pub started: String,
    /// The same, unix seconds.
    pub started_unix: u64,
    /// Actor id of the earlier incident's perpetrator (the FBI-attributed actor).
    pub actor: String,
    /// Per chain: contracts, the exchange, the drain.
    pub chains: Vec<ChainTruth>,
    /// The exploiter address of the new incident that the actor used in the earlier incident on another chain.
    pub reused_address: ReusedAddress,
    /// The earlier incident's perpetrator addresses (labeled, FBI).
    pub earlier_addresses: Vec<ChainAddress>,
    /// Exchange deposit addresses the laundering paid into, with how the funds got there.
    pub reached_deposits: Vec<ReachedDeposit>,
    /// The token -> native swap of the laundering.
    pub swap: SwapTruth,
    /// The cross-chain hop of the laundering.
    pub bridge_hop: BridgeHopTruth,
    /// The laundering's mixer deposits.
    pub mixer_deposits: Vec<MixerDepositTruth>,
    /// The peel chain's hops, in order (first = funded by the exploiter).
    pub peel_chain: Vec<ChainAddress>,
    /// An unrelated actor labeled by a weak source, paid once by the peel chain.
    pub decoy: Decoy,
}

/// An address on a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainAddress {
    /// Chain.
    pub chain: Chain,
    /// Address.
    pub address: Address,
}

/// One chain of the world.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainTruth {
    /// Chain.
    pub chain: Chain,
    /// EIP-155 chain id the node runs with.
    pub chain_id: u64,
    /// Last block of the built chain.
    pub head: u64,
    /// Deployed contracts.
    pub contracts: Contracts,
    /// The exchange's hot wallet (victim of the new incident).
    pub hot_wallet: Address,
    /// The fresh address the hot wallet was drained to.
    pub exploiter: Address,
    /// What the drain moved, per asset.
    pub drained: Vec<Drained>,
    /// The world's "genesis funds" account (labeled as a service).
    pub faucet: Address,
}

/// Contracts deployed on one chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contracts {
    /// The chain's "USDT" (ReplayToken).
    pub usdt: Address,
    /// Its decimals.
    pub usdt_decimals: u8,
    /// The wrapped native coin.
    pub wrapped: Address,
    /// Symbol of the wrapped native coin.
    pub wrapped_symbol: String,
    /// The USDT / wrapped-native pair.
    pub pair: Address,
    /// The router.
    pub router: Address,
    /// The bridge.
    pub bridge: Address,
    /// The mixer pool.
    pub mixer: Address,
    /// The mixer's denomination in raw native units (decimal string).
    pub mixer_denomination: String,
}

/// Drained amount of one asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drained {
    /// `native` or the token address (0x-hex), as the investigate JSON names assets.
    pub asset: String,
    /// Raw units, decimal string.
    pub amount: String,
    /// The drain transactions.
    pub txs: Vec<TxHash>,
}

/// The reused exploiter address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReusedAddress {
    /// The 20 bytes.
    pub address: Address,
    /// Chain of the new incident it was drained to.
    pub new_chain: Chain,
    /// Chain of the earlier incident it was used on.
    pub earlier_chain: Chain,
    /// An earlier-incident transaction paying it.
    pub earlier_tx: TxHash,
}

/// How laundered funds reached an exchange deposit address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Route {
    /// Exploiter -> deposit address.
    Direct,
    /// Through the token -> native swap.
    Swap,
    /// Through the bridge.
    Bridge,
    /// A peel of the peel chain.
    Peel,
}

/// One exchange deposit address the laundering paid into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReachedDeposit {
    /// Chain of the deposit address.
    pub chain: Chain,
    /// The deposit address.
    pub address: Address,
    /// How the funds got there.
    pub route: Route,
    /// The transaction paying the deposit address.
    pub payment_tx: TxHash,
    /// Asset paid (`native` or token address).
    pub asset: String,
    /// Raw amount paid (decimal string).
    pub amount: String,
    /// The transactions the funds passed through on the way (swap tx, bridge deposit + release).
    pub via: Vec<ChainTx>,
}

/// A transaction on a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainTx {
    /// Chain.
    pub chain: Chain,
    /// Hash.
    pub tx_hash: TxHash,
}

/// The laundering's swap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwapTruth {
    /// Chain.
    pub chain: Chain,
    /// Transaction.
    pub tx_hash: TxHash,
    /// Who sold (the signer).
    pub owner: Address,
    /// Who received the native coin.
    pub recipient: Address,
    /// Token sold.
    pub token_in: Address,
    /// Raw amount sold.
    pub amount_in: String,
    /// Raw native amount received.
    pub amount_out: String,
}

/// The laundering's bridge hop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeHopTruth {
    /// Source chain.
    pub from_chain: Chain,
    /// Destination chain.
    pub to_chain: Chain,
    /// Deposit transaction (source chain).
    pub deposit_tx: TxHash,
    /// Release transaction (destination chain).
    pub release_tx: TxHash,
    /// The message id both events carry (0x-hex).
    pub id: String,
    /// Depositor.
    pub depositor: Address,
    /// Recipient on the destination chain.
    pub recipient: Address,
    /// Raw native amount deposited.
    pub amount: String,
    /// Raw native amount released (after the fee).
    pub released: String,
}

/// One mixer deposit of the laundering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MixerDepositTruth {
    /// Chain.
    pub chain: Chain,
    /// The pool.
    pub pool: Address,
    /// Transaction.
    pub tx_hash: TxHash,
    /// Depositor.
    pub depositor: Address,
    /// Raw native amount.
    pub amount: String,
}

/// The decoy actor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decoy {
    /// Chain.
    pub chain: Chain,
    /// Labeled address.
    pub address: Address,
    /// Actor id.
    pub actor: String,
    /// The peel chain's payment to it.
    pub tx_hash: TxHash,
}

/// Bridge name used in the bridges CSV on every chain (deposits only match releases of the same name).
pub const BRIDGE_NAME: &str = "replaybridge";
/// Source named by the perpetrator labels.
pub const FBI_SOURCE: &str = "FBI";
/// Confidence of the FBI labels (0-100).
pub const FBI_CONFIDENCE: u8 = 90;

impl GroundTruth {
    /// The chain's record.
    pub fn chain(&self, chain: Chain) -> Option<&ChainTruth> {
        self.chains.iter().find(|c| c.chain == chain)
    }

    /// Labels CSV (`chain,address,label,category,actor,source,confidence`): the earlier incident's
    /// perpetrator addresses (FBI), the exchange's hot wallets, mixers, bridges, DEX contracts, the faucet
    /// and the decoy.
    pub fn labels_csv(&self) -> String {
        let mut out = String::from("chain,address,label,category,actor,source,confidence\n");
        let mut row =
            |chain: Chain, a: Address, label: &str, category: &str, actor: &str, source: &str, conf: u8| {
                out.push_str(&format!(
                    "{},{},{label},{category},{actor},{source},{conf}\n",
                    chain.name(),
                    a.to_hex()
                ));
            };
        for (i, x) in self.earlier_addresses.iter().enumerate() {
            row(
                x.chain,
                x.address,
                &format!("Lazarus Group: wallet-drain exploiter {} (June 2023)", i + 1),
                "perpetrator",
                &self.actor,
                FBI_SOURCE,
                FBI_CONFIDENCE,
            );
        }
        for c in &self.chains {
            let src = "replay world operator";
            row(
                c.chain,
                c.hot_wallet,
                "CoinEx: Hot Wallet",
                "exchange",
                "coinex",
                src,
                100,
            );
            row(
                c.chain,
                c.contracts.mixer,
                "Tornado-style mixer pool",
                "mixer",
                "",
                src,
                100,
            );
            row(
                c.chain,
                c.contracts.bridge,
                "ReplayBridge",
                "bridge",
                "",
                src,
                100,
            );
            let pair_label = format!("ReplaySwap: USDT/{} pair", c.contracts.wrapped_symbol);
            row(c.chain, c.contracts.pair, &pair_label, "defi", "", src, 100);
            row(
                c.chain,
                c.contracts.router,
                "ReplaySwap: Router",
                "defi",
                "",
                src,
                100,
            );
            row(
                c.chain,
                c.faucet,
                "Replay world: genesis funds",
                "service",
                "",
                src,
                100,
            );
        }
        let d = &self.decoy;
        row(
            d.chain,
            d.address,
            "Scam report: OTC desk",
            "perpetrator",
            &d.actor,
            "community report",
            30,
        );
        out
    }

    /// Bridges CSV (`chain,address,bridge,role`): the bridge contract of every chain, one bridge name.
    pub fn bridges_csv(&self) -> String {
        let mut out = String::from("chain,address,bridge,role\n");
        for c in &self.chains {
            out.push_str(&format!(
                "{},{},{BRIDGE_NAME},both\n",
                c.chain.name(),
                c.contracts.bridge.to_hex()
            ));
        }
        out
    }

    /// Mixers CSV (`chain,address,name,asset,denomination`), the `MixerRegistry::parse_csv` layout.
    pub fn mixers_csv(&self) -> String {
        let mut out = String::from("chain,address,name,asset,denomination\n");
        for c in &self.chains {
            out.push_str(&format!(
                "{},{},replay-mixer,native,{}\n",
                c.chain.name(),
                c.contracts.mixer.to_hex(),
                c.contracts.mixer_denomination
            ));
        }
        out
    }

    /// The incident file: victims = the hot wallets, exploiters = the addresses they were drained to,
    /// started = before the first drain, and the "USDT" of each chain as a `[[token]]`.
    pub fn incident_toml(&self) -> String {
        let mut out = format!(
            "# The new incident of the replay world (written by chaintrace-replay).\nname = \"{}\"\nstarted = \"{}\"\n",
            self.incident_name, self.started
        );
        for c in &self.chains {
            out.push_str(&format!(
                "\n[[victim]]\nchain = \"{}\"\naddress = \"{}\"\n",
                c.chain.name(),
                c.hot_wallet.to_hex()
            ));
        }
        for c in &self.chains {
            out.push_str(&format!(
                "\n[[exploiter]]\nchain = \"{}\"\naddress = \"{}\"\n",
                c.chain.name(),
                c.exploiter.to_hex()
            ));
        }
        for c in &self.chains {
            out.push_str(&format!(
                "\n[[token]]\nchain = \"{}\"\naddress = \"{}\"\nsymbol = \"USDT\"\ndecimals = {}\n",
                c.chain.name(),
                c.contracts.usdt.to_hex(),
                c.contracts.usdt_decimals
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(n: u8) -> Address {
        Address([n; 20])
    }

    fn h(n: u8) -> TxHash {
        TxHash([n; 32])
    }

    fn sample() -> GroundTruth {
        let chain = |c: Chain, n: u8| ChainTruth {
            chain: c,
            chain_id: c.chain_id(),
            head: 10,
            contracts: Contracts {
                usdt: a(n + 1),
                usdt_decimals: 6,
                wrapped: a(n + 2),
                wrapped_symbol: "WETH".into(),
                pair: a(n + 3),
                router: a(n + 4),
                bridge: a(n + 5),
                mixer: a(n + 6),
                mixer_denomination: "100".into(),
            },
            hot_wallet: a(n + 7),
            exploiter: a(n + 8),
            drained: vec![Drained {
                asset: "native".into(),
                amount: "5".into(),
                txs: vec![h(n)],
            }],
            faucet: a(n + 9),
        };
        GroundTruth {
            schema_version: TRUTH_SCHEMA_VERSION,
            incident_name: "test".into(),
            started: "2023-09-12T00:00:00Z".into(),
            started_unix: 1_694_476_800,
            actor: "lazarus".into(),
            chains: vec![chain(Chain::Ethereum, 10), chain(Chain::Polygon, 30)],
            reused_address: ReusedAddress {
                address: a(38),
                new_chain: Chain::Polygon,
                earlier_chain: Chain::Ethereum,
                earlier_tx: h(1),
            },
            earlier_addresses: vec![ChainAddress {
                chain: Chain::Ethereum,
                address: a(38),
            }],
            reached_deposits: Vec::new(),
            swap: SwapTruth {
                chain: Chain::Ethereum,
                tx_hash: h(2),
                owner: a(18),
                recipient: a(50),
                token_in: a(11),
                amount_in: "1".into(),
                amount_out: "1".into(),
            },
            bridge_hop: BridgeHopTruth {
                from_chain: Chain::Ethereum,
                to_chain: Chain::Polygon,
                deposit_tx: h(3),
                release_tx: h(4),
                id: "0x01".into(),
                depositor: a(18),
                recipient: a(51),
                amount: "2".into(),
                released: "2".into(),
            },
            mixer_deposits: Vec::new(),
            peel_chain: Vec::new(),
            decoy: Decoy {
                chain: Chain::Ethereum,
                address: a(60),
                actor: "actor-y".into(),
                tx_hash: h(5),
            },
        }
    }

    #[test]
    fn labels_csv_has_seven_columns_and_names_the_earlier_addresses_as_fbi_perpetrators() {
        let t = sample();
        let csv = t.labels_csv();
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some("chain,address,label,category,actor,source,confidence")
        );
        for line in lines.clone() {
            assert_eq!(line.split(',').count(), 7, "{line}");
        }
        let fbi: Vec<&str> = lines.filter(|l| l.contains(",FBI,")).collect();
        assert_eq!(fbi.len(), 1);
        assert!(fbi[0].starts_with(&format!("ethereum,{},", a(38).to_hex())));
        assert!(fbi[0].ends_with(",perpetrator,lazarus,FBI,90"));
        assert!(csv.contains(&format!(
            "polygon,{},CoinEx: Hot Wallet,exchange,coinex,",
            a(37).to_hex()
        )));
        assert!(csv.contains(&format!(
            "ethereum,{},Tornado-style mixer pool,mixer,",
            a(16).to_hex()
        )));
    }

    #[test]
    fn bridges_csv_registers_one_bridge_name_on_every_chain() {
        let csv = sample().bridges_csv();
        assert_eq!(
            csv,
            format!(
                "chain,address,bridge,role\nethereum,{},replaybridge,both\npolygon,{},replaybridge,both\n",
                a(15).to_hex(),
                a(35).to_hex()
            )
        );
    }

    #[test]
    fn incident_lists_hot_wallets_as_victims_and_drain_receivers_as_exploiters() {
        let toml = sample().incident_toml();
        assert!(toml.contains("started = \"2023-09-12T00:00:00Z\""));
        assert_eq!(toml.matches("[[victim]]").count(), 2);
        assert_eq!(toml.matches("[[exploiter]]").count(), 2);
        assert_eq!(toml.matches("[[token]]").count(), 2);
        assert!(toml.contains(&format!(
            "[[victim]]\nchain = \"polygon\"\naddress = \"{}\"",
            a(37).to_hex()
        )));
        assert!(toml.contains(&format!(
            "[[exploiter]]\nchain = \"polygon\"\naddress = \"{}\"",
            a(38).to_hex()
        )));
    }

    #[test]
    fn ground_truth_round_trips_through_json() {
        let t = sample();
        let text = serde_json::to_string(&t).expect("serializes");
        assert_eq!(serde_json::from_str::<GroundTruth>(&text).expect("parses"), t);
    }
}
