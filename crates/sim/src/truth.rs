//! Ground truth of a simulated world: who owns what, what each incident did, which transfers pair up.
//! Serializable (JSON); amounts are decimal strings of raw units.

use std::collections::BTreeMap;

use chaintrace_core::{Address, Asset, Chain, Position, TxHash, U256};
use serde::{Deserialize, Serialize};

use crate::WorldConfig;

/// Version of the truth JSON layout.
pub const TRUTH_SCHEMA_VERSION: u32 = 1;

/// Everything the generator knows about the world it wrote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// Layout version ([`TRUTH_SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// The config that made this world.
    pub config: WorldConfig,
    /// Per-chain facts: block range, tokens, infrastructure addresses, counts.
    pub chains: Vec<ChainTruth>,
    /// Addresses allowed to go negative: the native genesis funder and the zero address (token mints).
    pub sources: Vec<Address>,
    /// Every owning entity: users, exchanges, actors, infrastructure.
    pub entities: Vec<Entity>,
    /// Address -> owning entity id for every address that appears in a transfer (as sender, receiver or
    /// signer; the same key controls it on every chain). Exchange deposit addresses belong to their
    /// exchange; their customer is in `deposit_addresses`.
    pub owners: BTreeMap<Address, String>,
    /// Exchange deposit addresses with the customer they were issued to.
    pub deposit_addresses: Vec<DepositAddress>,
    /// Exchanges with their hot wallets.
    pub exchanges: Vec<ExchangeTruth>,
    /// Planted incidents, in time order.
    pub incidents: Vec<Incident>,
    /// Every bridge crossing: deposit on one chain paired with its release on another.
    pub bridge_transfers: Vec<BridgeTransfer>,
    /// Every DEX swap.
    pub swaps: Vec<Swap>,
    /// Every mixer deposit with the withdrawal it funded.
    pub mixer_uses: Vec<MixerUse>,
    /// Labels an investigator would already have (also written as CSV by [`GroundTruth::labels_csv`]).
    pub labels: Vec<SimLabel>,
    /// Totals.
    pub stats: WorldStats,
}

/// Facts about one simulated chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainTruth {
    /// The chain.
    pub chain: Chain,
    /// First block written.
    pub first_block: u64,
    /// Last block written.
    pub last_block: u64,
    /// Timestamp of the first block.
    pub first_timestamp: u64,
    /// Timestamp of the last block.
    pub last_timestamp: u64,
    /// Seconds between blocks.
    pub block_time: u64,
    /// Transfers written on this chain.
    pub transfers: u64,
    /// Assets of the chain (index 0 is native).
    pub assets: Vec<AssetInfo>,
    /// DEX router, if simulated: the `sender` of every pair `Swap` and the counterparty of native legs
    /// (with tokens off, the multi-asset vault both legs of a swap go through).
    pub dex_pool: Option<Address>,
    /// Uniswap-V2-style pairs (wrapped native/USDT, wrapped native/USDC, USDT/USDC): token legs of a swap
    /// go owner -> pair -> owner.
    #[serde(default)]
    pub dex_pairs: Vec<Address>,
    /// The wrapped-native token contract (WETH, WBNB, WMATIC) the router wraps native legs through.
    #[serde(default)]
    pub wrapped_native: Option<Address>,
    /// Bridge contract, if simulated.
    pub bridge: Option<Address>,
    /// Bridge relayer (signs releases), if simulated.
    pub bridge_relayer: Option<Address>,
    /// Mixer pools by denomination, if simulated.
    pub mixer_pools: Vec<MixerPool>,
    /// Mixer relayer (signs withdrawals), if simulated.
    pub mixer_relayer: Option<Address>,
}

/// One asset of a chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetInfo {
    /// `native` or the token contract.
    #[serde(with = "asset_text")]
    pub asset: Asset,
    /// Ticker.
    pub symbol: String,
    /// Decimals of the raw unit.
    pub decimals: u8,
    /// Fixed simulated price in US dollars per whole unit.
    pub price_usd: f64,
}

/// A mixer pool of one denomination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MixerPool {
    /// Pool contract.
    pub address: Address,
    /// Denomination in raw native units.
    #[serde(with = "dec")]
    pub denomination: U256,
}

/// Kind of an owning entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    /// An ordinary user.
    User,
    /// An exchange.
    Exchange,
    /// A threat actor.
    Actor,
    /// DEX, bridge, mixer, token issuers, genesis.
    Infrastructure,
}

/// An owner of addresses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entity {
    /// Stable id (`user:17`, `exchange:northbit`, `actor:lazarus`, `bridge`, ...).
    pub id: String,
    /// What it is.
    pub kind: EntityKind,
}

/// A deposit address issued by an exchange to a customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DepositAddress {
    /// The deposit address.
    pub address: Address,
    /// Exchange entity id.
    pub exchange: String,
    /// Customer entity id.
    pub customer: String,
}

/// An exchange and its hot wallets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExchangeTruth {
    /// Entity id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Hot wallets per chain.
    pub hot_wallets: Vec<ChainAddress>,
}

/// An address on a chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ChainAddress {
    /// Chain.
    pub chain: Chain,
    /// Address.
    pub address: Address,
}

/// One transfer, identified as the store identifies it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransferRef {
    /// Chain.
    pub chain: Chain,
    /// Transaction.
    pub tx_hash: TxHash,
    /// Position inside the transaction.
    #[serde(with = "position_text")]
    pub position: Position,
    /// Sender.
    pub from: Address,
    /// Receiver.
    pub to: Address,
    /// Asset.
    #[serde(with = "asset_text")]
    pub asset: Asset,
    /// Ticker of the asset.
    pub symbol: String,
    /// Raw amount.
    #[serde(with = "dec")]
    pub amount: U256,
    /// Block timestamp.
    pub timestamp: u64,
}

/// An amount of one asset on one chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetAmount {
    /// Chain.
    pub chain: Chain,
    /// Asset.
    #[serde(with = "asset_text")]
    pub asset: Asset,
    /// Ticker.
    pub symbol: String,
    /// Raw amount.
    #[serde(with = "dec")]
    pub amount: U256,
}

/// An address of an earlier incident used again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReusedAddress {
    /// The 20 bytes shared by both incidents.
    pub address: Address,
    /// Id of the earlier incident.
    pub earlier_incident: String,
    /// Chain(s) where the earlier incident used it.
    pub earlier_chains: Vec<Chain>,
    /// Chain where this incident uses it.
    pub chain: Chain,
}

/// Where stolen value ended up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DestinationKind {
    /// Sent to an exchange deposit address (then swept by the exchange).
    ExchangeDeposit,
    /// Deposited into a mixer pool.
    MixerDeposit,
    /// Still held by an actor address at the end of the world.
    Holding,
}

/// One final destination of incident funds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Destination {
    /// What kind of end point.
    pub kind: DestinationKind,
    /// Chain.
    pub chain: Chain,
    /// The deposit address, mixer pool or holding address.
    pub address: Address,
    /// Exchange entity id for deposits.
    pub exchange: Option<String>,
    /// Asset.
    #[serde(with = "asset_text")]
    pub asset: Asset,
    /// Ticker.
    pub symbol: String,
    /// Raw amount.
    #[serde(with = "dec")]
    pub amount: U256,
    /// The transaction that reached it (none for holdings).
    pub tx_hash: Option<TxHash>,
}

/// A planted theft and its laundering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// `incident-1`, `incident-2`, ...
    pub id: String,
    /// Actor entity id (`actor:lazarus`).
    pub actor: String,
    /// Whether the label set attributes some of its addresses (earlier incidents); the last is never labeled.
    pub labeled: bool,
    /// Chains it touched (victim chain first).
    pub chains: Vec<Chain>,
    /// Exchange entity id of the victim.
    pub victim_exchange: String,
    /// Drained wallets.
    pub victims: Vec<ChainAddress>,
    /// Addresses that received the drain.
    pub exploiters: Vec<ChainAddress>,
    /// The address that paid the exploiters' gas.
    pub funder: ChainAddress,
    /// Every address the actor controls and used in this incident (funder, exploiters, hubs, peel hops,
    /// mixer withdrawal recipients), sorted.
    pub controlled: Vec<Address>,
    /// The actor's exchange deposit addresses used for cash-out.
    pub cash_out_deposit_addresses: Vec<Address>,
    /// Unix time of the first drain transfer.
    pub drain_time: u64,
    /// The drain transfers.
    pub drains: Vec<TransferRef>,
    /// Drained totals per chain and asset.
    pub drained: Vec<AssetAmount>,
    /// The address reused from an earlier incident, if any.
    pub reused: Option<ReusedAddress>,
    /// Where the funds ended up.
    pub destinations: Vec<Destination>,
}

/// A bridge crossing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BridgeTransfer {
    /// The `id` shared by the `BridgeDeposit` and `BridgeRelease` logs (when event logs are on).
    pub message_id: TxHash,
    /// Source chain.
    pub from_chain: Chain,
    /// Deposit transaction on the source chain.
    pub deposit_tx: TxHash,
    /// Depositor.
    pub sender: Address,
    /// Asset deposited.
    #[serde(with = "asset_text")]
    pub from_asset: Asset,
    /// Raw amount deposited.
    #[serde(with = "dec")]
    pub amount_in: U256,
    /// Deposit block timestamp.
    pub deposit_time: u64,
    /// Destination chain.
    pub to_chain: Chain,
    /// Release transaction on the destination chain.
    pub release_tx: TxHash,
    /// Recipient of the release.
    pub recipient: Address,
    /// Asset released.
    #[serde(with = "asset_text")]
    pub to_asset: Asset,
    /// Raw amount released: `amount_in` rescaled to the destination decimals, minus `fee`.
    #[serde(with = "dec")]
    pub amount_out: U256,
    /// Bridge fee in destination raw units.
    #[serde(with = "dec")]
    pub fee: U256,
    /// Release block timestamp.
    pub release_time: u64,
    /// Ticker (the same on both sides).
    pub symbol: String,
}

/// A DEX swap, one tx signed by the owner: `asset_in` leaves the owner, `asset_out` reaches it (through a
/// V2-style pair, native legs wrapped/unwrapped by the router; see docs/sim.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Swap {
    /// Chain.
    pub chain: Chain,
    /// Transaction.
    pub tx_hash: TxHash,
    /// Who swapped.
    pub owner: Address,
    /// Asset sold.
    #[serde(with = "asset_text")]
    pub asset_in: Asset,
    /// Raw amount sold.
    #[serde(with = "dec")]
    pub amount_in: U256,
    /// Asset bought.
    #[serde(with = "asset_text")]
    pub asset_out: Asset,
    /// Raw amount bought.
    #[serde(with = "dec")]
    pub amount_out: U256,
}

/// A mixer deposit and the withdrawal it paid for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MixerUse {
    /// Chain.
    pub chain: Chain,
    /// Pool.
    pub pool: Address,
    /// Denomination, raw native units.
    #[serde(with = "dec")]
    pub denomination: U256,
    /// Deposit transaction.
    pub deposit_tx: TxHash,
    /// Depositor.
    pub depositor: Address,
    /// Withdrawal transaction (None if the world ended first; never in practice).
    pub withdraw_tx: Option<TxHash>,
    /// Fresh address that received the withdrawal (same owner as the depositor).
    pub recipient: Address,
}

/// A label in the plain label format `chain,address,label,category,actor,source,confidence`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimLabel {
    /// Chain.
    pub chain: Chain,
    /// Address.
    pub address: Address,
    /// Human label.
    pub label: String,
    /// `exchange`, `mixer`, `bridge`, `defi`, `perpetrator`.
    pub category: String,
    /// Actor name for attributions, empty otherwise.
    pub actor: String,
    /// Who says so (`sim`, `FBI`).
    pub source: String,
    /// 0..=100.
    pub confidence: u8,
}

/// Totals of a world.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorldStats {
    /// Transfers written.
    pub transfers: u64,
    /// Block records written.
    pub blocks: u64,
    /// Raw event logs written.
    pub logs: u64,
    /// Transactions generated.
    pub transactions: u64,
    /// Batches written.
    pub batches: u64,
    /// Addresses that appear in transfers.
    pub addresses: u64,
}

impl GroundTruth {
    /// The labels as CSV with a header: `chain,address,label,category,actor,source,confidence`.
    pub fn labels_csv(&self) -> String {
        let mut out = String::from("chain,address,label,category,actor,source,confidence\n");
        for l in &self.labels {
            let fields = [
                l.chain.name().to_string(),
                l.address.to_hex(),
                l.label.clone(),
                l.category.clone(),
                l.actor.clone(),
                l.source.clone(),
                l.confidence.to_string(),
            ];
            let quoted: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            out.push_str(&quoted.join(","));
            out.push('\n');
        }
        out
    }

    /// The bridge contracts as a bridge registry CSV (`chain,address,bridge,role`, bridge `simbridge`,
    /// role `both`), the format `chaintrace-defi`'s `BridgeRegistry::parse_csv` reads.
    pub fn bridge_registry_csv(&self) -> String {
        let mut out = String::from("chain,address,bridge,role\n");
        for c in &self.chains {
            if let Some(b) = c.bridge {
                out.push_str(&format!("{},{},simbridge,both\n", c.chain.name(), b.to_hex()));
            }
        }
        out
    }

    /// The mixer pools as a mixer registry CSV (`chain,address,name,asset,denomination`, raw units), the
    /// format `chaintrace-defi`'s `MixerRegistry::parse_csv` reads.
    pub fn mixer_registry_csv(&self) -> String {
        let mut out = String::from("chain,address,name,asset,denomination\n");
        for c in &self.chains {
            for p in &c.mixer_pools {
                out.push_str(&format!(
                    "{},{},simcash,native,{}\n",
                    c.chain.name(),
                    p.address.to_hex(),
                    p.denomination
                ));
            }
        }
        out
    }

    /// The incident with this id.
    pub fn incident(&self, id: &str) -> Option<&Incident> {
        self.incidents.iter().find(|i| i.id == id)
    }

    /// Owner entity id of an address, if the world created it.
    pub fn owner_of(&self, address: &Address) -> Option<&str> {
        self.owners.get(address).map(String::as_str)
    }
}

fn csv_field(f: &str) -> String {
    if f.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f.to_string()
    }
}

/// Decimal-string serde for `U256` amounts.
mod dec {
    use chaintrace_core::U256;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &U256, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<U256, D::Error> {
        let s = String::deserialize(d)?;
        U256::from_str_radix(&s, 10).map_err(serde::de::Error::custom)
    }
}

/// `"native"` or token contract hex.
mod asset_text {
    use chaintrace_core::{Asset, Chain};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Asset, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.json_for(Chain::Ethereum))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Asset, D::Error> {
        let s = String::deserialize(d)?;
        Asset::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// `tx`, `log:N`, `trace:N.N`.
mod position_text {
    use chaintrace_core::Position;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Position, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Position, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
