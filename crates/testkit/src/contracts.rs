//! The compiled test contracts (contracts/out/*.json, built from contracts/src by contracts/compile.js).

use serde_json::Value;

use crate::abi::{Token, encode_args};

/// One of the test contracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    /// ERC-20 with `batchTransfer(address[],uint256[])`; constructor `(string name, string symbol, uint256 supply)`.
    Token,
    /// Forwards received ETH to its target by an internal call; constructor `(address target)`.
    Forwarder,
    /// `sendThenRevert(address)` and `keepAfterInnerRevert(address)`.
    Reverter,
    /// Created with value; no constructor arguments.
    Vault,
    /// `create()` makes a Vault with the call's value.
    VaultFactory,
}

impl Contract {
    /// Every test contract.
    pub const ALL: [Contract; 5] = [
        Contract::Token,
        Contract::Forwarder,
        Contract::Reverter,
        Contract::Vault,
        Contract::VaultFactory,
    ];

    fn artifact_text(self) -> &'static str {
        match self {
            Contract::Token => include_str!("../../../contracts/out/Token.json"),
            Contract::Forwarder => include_str!("../../../contracts/out/Forwarder.json"),
            Contract::Reverter => include_str!("../../../contracts/out/Reverter.json"),
            Contract::Vault => include_str!("../../../contracts/out/Vault.json"),
            Contract::VaultFactory => include_str!("../../../contracts/out/VaultFactory.json"),
        }
    }

    fn artifact(self) -> Value {
        serde_json::from_str(self.artifact_text())
            .expect("committed artifacts are valid JSON (checked by tests)")
    }

    /// The contract's ABI (JSON array).
    pub fn abi(self) -> Value {
        self.artifact()["abi"].clone()
    }

    /// Creation bytecode.
    pub fn bytecode(self) -> Vec<u8> {
        let artifact = self.artifact();
        let hex = artifact["bytecode"]
            .as_str()
            .expect("artifacts carry a bytecode string (checked by tests)");
        alloy_primitives::hex::decode(hex).expect("artifact bytecode is hex (checked by tests)")
    }

    /// Init code: bytecode followed by the encoded constructor arguments.
    pub fn deploy_data(self, args: &[Token]) -> Vec<u8> {
        let mut data = self.bytecode();
        data.extend(encode_args(args));
        data
    }

    /// Canonical signatures (`name(type,...)`) of the ABI's functions.
    pub fn function_signatures(self) -> Vec<String> {
        let abi = self.abi();
        abi.as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["type"] == "function")
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
    fn every_artifact_has_abi_and_bytecode() {
        for c in Contract::ALL {
            assert!(c.abi().is_array(), "{c:?} abi");
            assert!(c.bytecode().len() > 100, "{c:?} bytecode");
        }
    }

    #[test]
    fn the_functions_scenarios_call_exist_in_the_abis() {
        let has = |c: Contract, sig: &str| c.function_signatures().iter().any(|s| s == sig);
        assert!(has(Contract::Token, "transfer(address,uint256)"));
        assert!(has(Contract::Token, "transferFrom(address,address,uint256)"));
        assert!(has(Contract::Token, "approve(address,uint256)"));
        assert!(has(Contract::Token, "batchTransfer(address[],uint256[])"));
        assert!(has(Contract::Forwarder, "forwardTo(address)"));
        assert!(has(Contract::Reverter, "sendThenRevert(address)"));
        assert!(has(Contract::Reverter, "keepAfterInnerRevert(address)"));
        assert!(has(Contract::VaultFactory, "create()"));
        assert!(!has(Contract::Token, "mint(address,uint256)"));
    }
}
