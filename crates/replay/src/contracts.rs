//! The replay world's compiled contracts (contracts/out/replay/*.json, built from contracts/src/replay by
//! contracts/compile.js and committed, so nothing here needs solc).

use chaintrace_testkit::abi::{Token, encode_args};
use serde_json::Value;

/// One contract of contracts/src/replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayContract {
    /// ERC-20; constructor `(string name, string symbol, uint8 decimals, address minter)`.
    Token,
    /// WETH9-style wrapper; constructor `(string name, string symbol)`.
    WrappedNative,
    /// Uniswap-V2-style pair; constructor `(address tokenA, address tokenB)`.
    Pair,
    /// Router over pairs; constructor `(address weth)`.
    Router,
    /// Relayed lock-and-mint bridge; constructor `(address relayer)`.
    Bridge,
    /// Tornado-style fixed-denomination mixer (behavioural stand-in); constructor `(uint256 denomination)`.
    Mixer,
}

impl ReplayContract {
    /// Every replay contract.
    pub const ALL: [ReplayContract; 6] = [
        ReplayContract::Token,
        ReplayContract::WrappedNative,
        ReplayContract::Pair,
        ReplayContract::Router,
        ReplayContract::Bridge,
        ReplayContract::Mixer,
    ];

    /// The committed artifact's text.
    pub fn artifact_text(self) -> &'static str {
        match self {
            ReplayContract::Token => include_str!("../../../contracts/out/replay/ReplayToken.json"),
            ReplayContract::WrappedNative => include_str!("../../../contracts/out/replay/WrappedNative.json"),
            ReplayContract::Pair => include_str!("../../../contracts/out/replay/ReplayPair.json"),
            ReplayContract::Router => include_str!("../../../contracts/out/replay/ReplayRouter.json"),
            ReplayContract::Bridge => include_str!("../../../contracts/out/replay/ReplayBridge.json"),
            ReplayContract::Mixer => include_str!("../../../contracts/out/replay/ReplayMixer.json"),
        }
    }

    /// Creation bytecode.
    pub fn bytecode(self) -> Vec<u8> {
        let artifact: Value = serde_json::from_str(self.artifact_text())
            .expect("committed artifacts are JSON (checked by tests)");
        let hex = artifact["bytecode"]
            .as_str()
            .expect("artifacts carry a bytecode string (checked by tests)");
        alloy_primitives::hex::decode(hex).expect("artifact bytecode is hex (checked by tests)")
    }

    /// Init code: bytecode followed by the ABI-encoded constructor arguments.
    pub fn deploy_data(self, args: &[Token]) -> Vec<u8> {
        let mut data = self.bytecode();
        data.extend(encode_args(args));
        data
    }

    /// Canonical signatures (`name(type,...)`) of the ABI's entries of `kind` (`function`, `event`).
    pub fn signatures(self, kind: &str) -> Vec<String> {
        let artifact: Value = serde_json::from_str(self.artifact_text())
            .expect("committed artifacts are JSON (checked by tests)");
        artifact["abi"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["type"] == kind)
            .map(|e| {
                let inputs: Vec<&str> = e["inputs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|i| i["type"].as_str())
                    .collect();
                format!("{}({})", e["name"].as_str().unwrap_or_default(), inputs.join(","))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_artifact_has_bytecode() {
        for c in ReplayContract::ALL {
            assert!(c.bytecode().len() > 100, "{c:?}");
        }
    }

    #[test]
    fn events_match_what_the_decoders_expect() {
        let has = |c: ReplayContract, sig: &str| c.signatures("event").iter().any(|s| s == sig);
        // docs/bridges.md, generic bridge.
        assert!(has(
            ReplayContract::Bridge,
            "BridgeDeposit(bytes32,address,address,address,uint256,uint256)"
        ));
        assert!(has(
            ReplayContract::Bridge,
            "BridgeRelease(bytes32,address,address,uint256,uint256)"
        ));
        // tornado-core Tornado.sol.
        assert!(has(ReplayContract::Mixer, "Deposit(bytes32,uint32,uint256)"));
        assert!(has(
            ReplayContract::Mixer,
            "Withdrawal(address,bytes32,address,uint256)"
        ));
        // Uniswap V2 pair and WETH9.
        assert!(has(
            ReplayContract::Pair,
            "Swap(address,uint256,uint256,uint256,uint256,address)"
        ));
        assert!(has(ReplayContract::WrappedNative, "Deposit(address,uint256)"));
        assert!(has(ReplayContract::WrappedNative, "Withdrawal(address,uint256)"));
        assert!(has(ReplayContract::Token, "Transfer(address,address,uint256)"));
    }

    #[test]
    fn indexed_flags_of_the_bridge_events_follow_docs_bridges_md() {
        let artifact: Value = serde_json::from_str(ReplayContract::Bridge.artifact_text()).expect("json");
        let indexed = |event: &str| -> Vec<bool> {
            artifact["abi"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|e| e["type"] == "event" && e["name"] == event)
                .map(|e| {
                    e["inputs"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|i| i["indexed"] == true)
                        .collect()
                })
                .unwrap_or_default()
        };
        assert_eq!(indexed("BridgeDeposit"), [true, true, true, false, false, false]);
        assert_eq!(indexed("BridgeRelease"), [true, true, true, false, false]);
    }
}
