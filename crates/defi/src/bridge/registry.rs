use std::collections::HashMap;
use std::fmt;

use chaintrace_core::{Address, Chain};

use crate::DefiError;
use crate::registry_csv::registry_rows;

/// What a registered bridge address does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BridgeRole {
    /// Takes deposits (value sent to it leaves for another chain).
    Deposit,
    /// Pays releases (value it sends arrived from another chain).
    Release,
    /// Both.
    Both,
}

impl BridgeRole {
    /// The lowercase name used in CSV.
    pub fn name(self) -> &'static str {
        match self {
            BridgeRole::Deposit => "deposit",
            BridgeRole::Release => "release",
            BridgeRole::Both => "both",
        }
    }

    /// Parses `deposit`, `release` or `both` (any case).
    pub fn parse(s: &str) -> Option<BridgeRole> {
        match s.trim().to_ascii_lowercase().as_str() {
            "deposit" => Some(BridgeRole::Deposit),
            "release" => Some(BridgeRole::Release),
            "both" => Some(BridgeRole::Both),
            _ => None,
        }
    }

    /// Whether transfers into it are deposits.
    pub fn takes_deposits(self) -> bool {
        matches!(self, BridgeRole::Deposit | BridgeRole::Both)
    }

    /// Whether transfers out of it are releases.
    pub fn pays_releases(self) -> bool {
        matches!(self, BridgeRole::Release | BridgeRole::Both)
    }
}

impl fmt::Display for BridgeRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One registered bridge contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeEntry {
    /// Chain of the contract.
    pub chain: Chain,
    /// The contract.
    pub address: Address,
    /// Bridge name; deposits only match releases of the same name.
    pub bridge: String,
    /// What it does.
    pub role: BridgeRole,
}

/// Bridge contracts by (chain, address). Logs of known bridge events are only decoded from registered
/// emitters (anyone can emit a look-alike event), and plain transfers into / out of registered
/// addresses become deposits / releases.
#[derive(Debug, Clone, Default)]
pub struct BridgeRegistry {
    entries: HashMap<(Chain, Address), BridgeEntry>,
}

/// Built-in entries: contracts of the bridges this crate decodes, from public explorer labels (the
/// Etherscan-family label dumps; see docs/bridges.md).
const BUILTIN: &[(Chain, &str, &str, BridgeRole)] = &[
    // Optimism: L1StandardBridge proxy and the L2StandardBridge predeploy.
    (
        Chain::Ethereum,
        "0x99c9fc46f92e8a1c0dec1b1747d010903e884be1",
        "optimism",
        BridgeRole::Both,
    ),
    (
        Chain::Optimism,
        "0x4200000000000000000000000000000000000010",
        "optimism",
        BridgeRole::Both,
    ),
    // Arbitrum One: Bridge, Delayed Inbox, Outbox, L1 ERC20 / WETH gateways, their L2 twins, ArbSys.
    (
        Chain::Ethereum,
        "0x8315177ab297ba92a06054ce80a67ed4dbd7ed3a",
        "arbitrum",
        BridgeRole::Both,
    ),
    (
        Chain::Ethereum,
        "0x4dbd4fc535ac27206064b68ffcf827b0a60bab3f",
        "arbitrum",
        BridgeRole::Deposit,
    ),
    (
        Chain::Ethereum,
        "0x0b9857ae2d4a3dbe74ffe1d7df045bb7f96e4840",
        "arbitrum",
        BridgeRole::Release,
    ),
    (
        Chain::Ethereum,
        "0xa3a7b6f88361f48403514059f1f16c8e78d60eec",
        "arbitrum",
        BridgeRole::Both,
    ),
    (
        Chain::Ethereum,
        "0xd92023e9d9911199a6711321d1277285e6d4e2db",
        "arbitrum",
        BridgeRole::Both,
    ),
    (
        Chain::Arbitrum,
        "0x09e9222e96e7b4ae2a407b98d48e330053351eee",
        "arbitrum",
        BridgeRole::Both,
    ),
    (
        Chain::Arbitrum,
        "0x6c411ad3e74de3e7bd422b94a27770f5b86c623b",
        "arbitrum",
        BridgeRole::Both,
    ),
    (
        Chain::Arbitrum,
        "0x0000000000000000000000000000000000000064",
        "arbitrum",
        BridgeRole::Deposit,
    ),
    // Multichain (Anyswap) routers V3/V4/V6.
    (
        Chain::Ethereum,
        "0x6b7a87899490ece95443e979ca9485cbe7e71522",
        "multichain",
        BridgeRole::Both,
    ),
    (
        Chain::Ethereum,
        "0x765277eebeca2e31912c9946eae1021199b39c61",
        "multichain",
        BridgeRole::Both,
    ),
    (
        Chain::Ethereum,
        "0xba8da9dcf11b50b03fd5284f164ef5cdef910705",
        "multichain",
        BridgeRole::Both,
    ),
    (
        Chain::Ethereum,
        "0xe95fd76cf16008c12ff3b3a937cb16cd9cc20284",
        "multichain",
        BridgeRole::Both,
    ),
    (
        Chain::Bsc,
        "0xd1c5966f9f5ee6881ff6b261bbeda45972b1b5f3",
        "multichain",
        BridgeRole::Both,
    ),
    (
        Chain::Bsc,
        "0xabd380327fe66724ffda91a87c772fb8d00be488",
        "multichain",
        BridgeRole::Both,
    ),
    (
        Chain::Bsc,
        "0xe1d592c3322f1f714ca11f05b6bc0efef1907859",
        "multichain",
        BridgeRole::Both,
    ),
    (
        Chain::Polygon,
        "0x4f3aff3a747fcade12598081e80c6605a8be192f",
        "multichain",
        BridgeRole::Both,
    ),
    (
        Chain::Polygon,
        "0x6ff0609046a38d76bd40c5863b4d1a2dce687f73",
        "multichain",
        BridgeRole::Both,
    ),
    (
        Chain::Polygon,
        "0x72c290f3f13664b024ee611983aa2d5621ebe917",
        "multichain",
        BridgeRole::Both,
    ),
    (
        Chain::Arbitrum,
        "0xc931f61b1534eb21d8c11b24f3f5ab2471d4ab50",
        "multichain",
        BridgeRole::Both,
    ),
    (
        Chain::Arbitrum,
        "0x650af55d5877f289837c30b94af91538a7504b76",
        "multichain",
        BridgeRole::Both,
    ),
    (
        Chain::Optimism,
        "0xdc42728b0ea910349ed3c6e1c9dc06b5fb591f98",
        "multichain",
        BridgeRole::Both,
    ),
    // Stargate pools (S*USDC, S*USDT on Polygon).
    (
        Chain::Polygon,
        "0x1205f31718499dbf1fca446663b532ef87481fe1",
        "stargate",
        BridgeRole::Both,
    ),
    (
        Chain::Polygon,
        "0x29e38769f23701a2e4a8ef0492e19da4604be62c",
        "stargate",
        BridgeRole::Both,
    ),
];

impl BridgeRegistry {
    /// No entries.
    pub fn empty() -> BridgeRegistry {
        BridgeRegistry::default()
    }

    /// The built-in entries (see docs/bridges.md for the list and its sources).
    pub fn builtin() -> BridgeRegistry {
        let mut r = BridgeRegistry::empty();
        for (chain, hex, bridge, role) in BUILTIN {
            let address = Address::parse(hex).expect("built-in bridge addresses are valid hex");
            r.insert(BridgeEntry {
                chain: *chain,
                address,
                bridge: (*bridge).to_string(),
                role: *role,
            });
        }
        r
    }

    /// Adds or replaces an entry.
    pub fn insert(&mut self, entry: BridgeEntry) {
        self.entries.insert((entry.chain, entry.address), entry);
    }

    /// The entry of a contract, if registered.
    pub fn entry(&self, chain: Chain, address: Address) -> Option<&BridgeEntry> {
        self.entries.get(&(chain, address))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry, in no particular order.
    pub fn entries(&self) -> impl Iterator<Item = &BridgeEntry> {
        self.entries.values()
    }

    /// Parses CSV text `chain,address,bridge,role` (role = deposit|release|both). A header line starting
    /// with `chain,`, blank lines and `#` comments are skipped. Errors name `source_name:line`.
    pub fn parse_csv(text: &str, source_name: &str) -> Result<Vec<BridgeEntry>, DefiError> {
        let mut out = Vec::new();
        for row in registry_rows(text) {
            let bad = |reason: String| row.bad(source_name, reason);
            let fields = &row.fields;
            let [chain, address, bridge, role] = fields[..] else {
                return Err(bad(format!(
                    "expected 4 fields chain,address,bridge,role, got {}",
                    fields.len()
                )));
            };
            let chain = chain.parse::<Chain>().map_err(|e| bad(e.to_string()))?;
            let address = Address::parse(address).map_err(|e| bad(e.to_string()))?;
            if bridge.is_empty() {
                return Err(bad("empty bridge name".to_string()));
            }
            let role = BridgeRole::parse(role)
                .ok_or_else(|| bad(format!("bad role '{role}': expected deposit, release or both")))?;
            out.push(BridgeEntry {
                chain,
                address,
                bridge: bridge.to_string(),
                role,
            });
        }
        Ok(out)
    }

    /// Parses CSV text (see [`BridgeRegistry::parse_csv`]) and adds its entries; returns how many.
    pub fn extend_from_csv(&mut self, text: &str, source_name: &str) -> Result<usize, DefiError> {
        let entries = BridgeRegistry::parse_csv(text, source_name)?;
        let n = entries.len();
        for e in entries {
            self.insert(e);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_entries_parse_and_bad_lines_name_file_and_line() {
        let text = "chain,address,bridge,role\n# comment\n\nethereum,0x00000000000000000000000000000000000000aa,hop,deposit\n\
                    arbitrum,0x00000000000000000000000000000000000000bb,hop,RELEASE\n";
        let entries = BridgeRegistry::parse_csv(text, "bridges.csv").expect("valid csv");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].chain, Chain::Arbitrum);
        assert_eq!(entries[1].role, BridgeRole::Release);

        let err = BridgeRegistry::parse_csv("ethereum,0xaa,hop,deposit\n", "b.csv").expect_err("bad address");
        assert!(err.to_string().starts_with("b.csv:1: bad address"), "{err}");
        let err = BridgeRegistry::parse_csv(
            "x\nethereum,0x00000000000000000000000000000000000000aa,hop,sideways\n",
            "b.csv",
        )
        .expect_err("bad role");
        assert!(err.to_string().starts_with("b.csv:1: expected 4 fields"), "{err}");
        let err = BridgeRegistry::parse_csv(
            "ethereum,0x00000000000000000000000000000000000000aa,hop,sideways\n",
            "b.csv",
        )
        .expect_err("bad role");
        assert_eq!(
            err.to_string(),
            "b.csv:1: bad role 'sideways': expected deposit, release or both"
        );
        let err = BridgeRegistry::parse_csv(
            "\n\nsolana,0x00000000000000000000000000000000000000aa,hop,both\n",
            "b.csv",
        )
        .expect_err("bad chain");
        assert!(err.to_string().starts_with("b.csv:3: unknown chain"), "{err}");
    }

    #[test]
    fn builtin_registry_knows_the_canonical_bridges() {
        let r = BridgeRegistry::builtin();
        let op = Address::parse("0x99C9fc46f92E8a1c0deC1b1747d010903E884bE1").expect("hex");
        assert_eq!(
            r.entry(Chain::Ethereum, op).map(|e| e.bridge.as_str()),
            Some("optimism")
        );
        assert!(r.entry(Chain::Bsc, op).is_none());
    }
}
