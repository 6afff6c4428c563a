//! One chain of the world under construction: sends zero-fee transactions from any address (the nodes
//! run with `--auto-impersonate --base-fee 0`), reads with `eth_call`, and moves the clock.

use chaintrace_core::{Address, Chain, U256};
use chaintrace_testkit::abi::{Token, encode_call};
use chaintrace_testkit::{DevRpc, Receipt};
use serde_json::json;

use crate::ReplayError;

/// Seconds between consecutive blocks (set with `anvil_setBlockTimestampInterval`).
pub const BLOCK_INTERVAL_SECS: u64 = 12;

/// A node of the world being built.
#[derive(Debug, Clone)]
pub struct Node {
    chain: Chain,
    rpc: DevRpc,
}

impl Node {
    /// Wraps the node's client; sets the block timestamp interval so the timeline is deterministic.
    pub fn new(chain: Chain, rpc: DevRpc) -> Result<Node, ReplayError> {
        let node = Node { chain, rpc };
        node.rpc
            .call("anvil_setBlockTimestampInterval", json!([BLOCK_INTERVAL_SECS]))
            .map_err(ReplayError::node(chain))?;
        Ok(node)
    }

    /// The chain.
    pub fn chain(&self) -> Chain {
        self.chain
    }

    /// The JSON-RPC client.
    pub fn rpc(&self) -> &DevRpc {
        &self.rpc
    }

    /// The unlocked dev accounts (funded at genesis).
    pub fn accounts(&self) -> Result<Vec<Address>, ReplayError> {
        self.rpc.accounts().map_err(ReplayError::node(self.chain))
    }

    /// Makes the next block carry timestamp `unix` (or one interval after the head, if that is later);
    /// later blocks follow at [`BLOCK_INTERVAL_SECS`].
    pub fn set_time(&self, unix: u64) -> Result<(), ReplayError> {
        let head = self.rpc.block_number().map_err(ReplayError::node(self.chain))?;
        let last = self
            .rpc
            .block(head)
            .map_err(ReplayError::node(self.chain))?
            .timestamp;
        let t = unix.max(last + BLOCK_INTERVAL_SECS);
        self.rpc
            .call("evm_setNextBlockTimestamp", json!([t]))
            .map_err(ReplayError::node(self.chain))?;
        Ok(())
    }

    /// Sends a zero-fee transaction from `from` and waits for its receipt; a revert is an error.
    pub fn send(
        &self,
        step: &str,
        from: Address,
        to: Option<Address>,
        value: U256,
        data: Vec<u8>,
    ) -> Result<Receipt, ReplayError> {
        let mut tx = json!({
            "from": from.to_hex(),
            "value": format!("{value:#x}"),
            "data": format!("0x{}", alloy_primitives::hex::encode(&data)),
            "gasPrice": "0x0",
        });
        if let Some(to) = to {
            tx["to"] = json!(to.to_hex());
        }
        let hash = self
            .rpc
            .call("eth_sendTransaction", json!([tx]))
            .map_err(|e| self.step_error(step, e.to_string()))?;
        let hash = hash
            .as_str()
            .and_then(|s| chaintrace_core::TxHash::parse(s).ok())
            .ok_or_else(|| self.step_error(step, format!("bad transaction hash {hash}")))?;
        let receipt = self
            .rpc
            .wait_receipt(hash)
            .map_err(ReplayError::node(self.chain))?;
        if !receipt.is_success {
            return Err(self.step_error(step, format!("transaction {hash} reverted")));
        }
        Ok(receipt)
    }

    /// A plain native transfer.
    pub fn pay(&self, step: &str, from: Address, to: Address, value: U256) -> Result<Receipt, ReplayError> {
        self.send(step, from, Some(to), value, Vec::new())
    }

    /// A contract call without value.
    pub fn invoke(
        &self,
        step: &str,
        from: Address,
        contract: Address,
        signature: &str,
        args: &[Token],
    ) -> Result<Receipt, ReplayError> {
        self.send(
            step,
            from,
            Some(contract),
            U256::ZERO,
            encode_call(signature, args),
        )
    }

    /// Deploys init code; returns the new contract's address.
    pub fn deploy(&self, step: &str, from: Address, init_code: Vec<u8>) -> Result<Address, ReplayError> {
        let receipt = self.send(step, from, None, U256::ZERO, init_code)?;
        receipt
            .contract_address
            .ok_or_else(|| self.step_error(step, "no contract address in the receipt".into()))
    }

    /// `eth_call` at the head returning one 32-byte word as a number.
    pub fn read_uint(&self, contract: Address, signature: &str, args: &[Token]) -> Result<U256, ReplayError> {
        let data = format!(
            "0x{}",
            alloy_primitives::hex::encode(encode_call(signature, args))
        );
        let v = self
            .rpc
            .call(
                "eth_call",
                json!([{"to": contract.to_hex(), "data": data}, "latest"]),
            )
            .map_err(ReplayError::node(self.chain))?;
        let s = v.as_str().unwrap_or_default().trim_start_matches("0x");
        let word = s
            .get(..64)
            .ok_or_else(|| self.step_error(signature, format!("short answer {v}")))?;
        U256::from_str_radix(word, 16).map_err(|_| self.step_error(signature, format!("bad answer {v}")))
    }

    /// Native balance at the head.
    pub fn balance(&self, who: Address) -> Result<U256, ReplayError> {
        self.rpc.balance(who).map_err(ReplayError::node(self.chain))
    }

    /// Latest block number.
    pub fn head(&self) -> Result<u64, ReplayError> {
        self.rpc.block_number().map_err(ReplayError::node(self.chain))
    }

    fn step_error(&self, step: &str, what: String) -> ReplayError {
        ReplayError::Step {
            chain: self.chain,
            step: step.to_string(),
            what,
        }
    }
}
