//! Every event the DeFi layer decodes, by exact Solidity signature; topic 0 is computed with keccak-256
//! from the signature text, so the text is the single source of truth.

use std::collections::HashMap;
use std::sync::LazyLock;

/// An event this crate knows how to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KnownEvent {
    /// Uniswap V2 pair `Swap`.
    UniswapV2Swap,
    /// Uniswap V3 pool `Swap`.
    UniswapV3Swap,
    /// WETH9-style `Deposit` (wrap native).
    WethDeposit,
    /// WETH9-style `Withdrawal` (unwrap to native).
    WethWithdrawal,
    /// Optimism L1StandardBridge: ETH deposit started on L1.
    OpEthDepositInitiated,
    /// Optimism L1StandardBridge: ERC-20 deposit started on L1.
    OpErc20DepositInitiated,
    /// Optimism L2StandardBridge: deposit (ETH or ERC-20) credited on L2.
    OpDepositFinalized,
    /// Optimism L2StandardBridge: withdrawal started on L2.
    OpWithdrawalInitiated,
    /// Optimism L1StandardBridge: ETH withdrawal paid out on L1.
    OpEthWithdrawalFinalized,
    /// Optimism L1StandardBridge: ERC-20 withdrawal paid out on L1.
    OpErc20WithdrawalFinalized,
    /// Arbitrum (nitro) Bridge: a message entered the delayed inbox.
    ArbMessageDelivered,
    /// Arbitrum Inbox: the message body (ETH deposits carry `dest ++ value`).
    ArbInboxMessageDelivered,
    /// Arbitrum L1 token gateway: ERC-20 deposit started.
    ArbDepositInitiated,
    /// Arbitrum L2 token gateway: ERC-20 deposit credited.
    ArbDepositFinalized,
    /// Arbitrum L2 token gateway: ERC-20 withdrawal started.
    ArbWithdrawalInitiated,
    /// Arbitrum L1 token gateway: ERC-20 withdrawal paid out.
    ArbWithdrawalFinalized,
    /// Arbitrum ArbSys precompile: L2 -> L1 message (ETH withdrawals carry `callvalue`).
    ArbL2ToL1Tx,
    /// Arbitrum Outbox: an L2 -> L1 message executed on L1.
    ArbOutBoxTransactionExecuted,
    /// Multichain router: tokens sent out to another chain.
    AnySwapOut,
    /// Multichain router: tokens paid in from another chain.
    AnySwapIn,
    /// Stargate pool: tokens sent to a remote chain.
    StargateSwap,
    /// Stargate pool: tokens paid out from a remote chain.
    StargateSwapRemote,
    /// chaintrace generic test bridge: deposit (see docs/bridges.md).
    BridgeDeposit,
    /// chaintrace generic test bridge: release (see docs/bridges.md).
    BridgeRelease,
    /// Tornado Cash pool deposit.
    TornadoDeposit,
    /// Tornado Cash pool withdrawal.
    TornadoWithdrawal,
}

impl KnownEvent {
    /// Every known event.
    pub const ALL: [KnownEvent; 26] = [
        KnownEvent::UniswapV2Swap,
        KnownEvent::UniswapV3Swap,
        KnownEvent::WethDeposit,
        KnownEvent::WethWithdrawal,
        KnownEvent::OpEthDepositInitiated,
        KnownEvent::OpErc20DepositInitiated,
        KnownEvent::OpDepositFinalized,
        KnownEvent::OpWithdrawalInitiated,
        KnownEvent::OpEthWithdrawalFinalized,
        KnownEvent::OpErc20WithdrawalFinalized,
        KnownEvent::ArbMessageDelivered,
        KnownEvent::ArbInboxMessageDelivered,
        KnownEvent::ArbDepositInitiated,
        KnownEvent::ArbDepositFinalized,
        KnownEvent::ArbWithdrawalInitiated,
        KnownEvent::ArbWithdrawalFinalized,
        KnownEvent::ArbL2ToL1Tx,
        KnownEvent::ArbOutBoxTransactionExecuted,
        KnownEvent::AnySwapOut,
        KnownEvent::AnySwapIn,
        KnownEvent::StargateSwap,
        KnownEvent::StargateSwapRemote,
        KnownEvent::BridgeDeposit,
        KnownEvent::BridgeRelease,
        KnownEvent::TornadoDeposit,
        KnownEvent::TornadoWithdrawal,
    ];

    /// The canonical signature (types only, as hashed for topic 0).
    pub fn signature(self) -> &'static str {
        match self {
            KnownEvent::UniswapV2Swap => "Swap(address,uint256,uint256,uint256,uint256,address)",
            KnownEvent::UniswapV3Swap => "Swap(address,address,int256,int256,uint160,uint128,int24)",
            KnownEvent::WethDeposit => "Deposit(address,uint256)",
            KnownEvent::WethWithdrawal => "Withdrawal(address,uint256)",
            KnownEvent::OpEthDepositInitiated => "ETHDepositInitiated(address,address,uint256,bytes)",
            KnownEvent::OpErc20DepositInitiated => {
                "ERC20DepositInitiated(address,address,address,address,uint256,bytes)"
            }
            KnownEvent::OpDepositFinalized => {
                "DepositFinalized(address,address,address,address,uint256,bytes)"
            }
            KnownEvent::OpWithdrawalInitiated => {
                "WithdrawalInitiated(address,address,address,address,uint256,bytes)"
            }
            KnownEvent::OpEthWithdrawalFinalized => "ETHWithdrawalFinalized(address,address,uint256,bytes)",
            KnownEvent::OpErc20WithdrawalFinalized => {
                "ERC20WithdrawalFinalized(address,address,address,address,uint256,bytes)"
            }
            KnownEvent::ArbMessageDelivered => {
                "MessageDelivered(uint256,bytes32,address,uint8,address,bytes32,uint256,uint64)"
            }
            KnownEvent::ArbInboxMessageDelivered => "InboxMessageDelivered(uint256,bytes)",
            KnownEvent::ArbDepositInitiated => "DepositInitiated(address,address,address,uint256,uint256)",
            KnownEvent::ArbDepositFinalized => "DepositFinalized(address,address,address,uint256)",
            KnownEvent::ArbWithdrawalInitiated => {
                "WithdrawalInitiated(address,address,address,uint256,uint256,uint256)"
            }
            KnownEvent::ArbWithdrawalFinalized => {
                "WithdrawalFinalized(address,address,address,uint256,uint256)"
            }
            KnownEvent::ArbL2ToL1Tx => {
                "L2ToL1Tx(address,address,uint256,uint256,uint256,uint256,uint256,uint256,bytes)"
            }
            KnownEvent::ArbOutBoxTransactionExecuted => {
                "OutBoxTransactionExecuted(address,address,uint256,uint256)"
            }
            KnownEvent::AnySwapOut => "LogAnySwapOut(address,address,address,uint256,uint256,uint256)",
            KnownEvent::AnySwapIn => "LogAnySwapIn(bytes32,address,address,uint256,uint256,uint256)",
            KnownEvent::StargateSwap => {
                "Swap(uint16,uint256,address,uint256,uint256,uint256,uint256,uint256)"
            }
            KnownEvent::StargateSwapRemote => "SwapRemote(address,uint256,uint256,uint256)",
            KnownEvent::BridgeDeposit => "BridgeDeposit(bytes32,address,address,address,uint256,uint256)",
            KnownEvent::BridgeRelease => "BridgeRelease(bytes32,address,address,uint256,uint256)",
            KnownEvent::TornadoDeposit => "Deposit(bytes32,uint32,uint256)",
            KnownEvent::TornadoWithdrawal => "Withdrawal(address,bytes32,address,uint256)",
        }
    }

    /// Topic 0: keccak-256 of [`KnownEvent::signature`].
    pub fn topic(self) -> [u8; 32] {
        TABLE.topics[self as usize]
    }

    /// The known event with this topic 0, if any.
    pub fn from_topic(topic0: &[u8; 32]) -> Option<KnownEvent> {
        TABLE.by_topic.get(topic0).copied()
    }

    /// The known event of a log (by its first topic).
    pub fn of_log(log: &chaintrace_core::RawLog) -> Option<KnownEvent> {
        log.topics.first().and_then(KnownEvent::from_topic)
    }
}

struct Table {
    topics: Vec<[u8; 32]>,
    by_topic: HashMap<[u8; 32], KnownEvent>,
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let topics: Vec<[u8; 32]> = KnownEvent::ALL
        .iter()
        .map(|e| alloy_primitives::keccak256(e.signature().as_bytes()).0)
        .collect();
    let by_topic = KnownEvent::ALL
        .iter()
        .zip(&topics)
        .map(|(e, t)| (*t, *e))
        .collect();
    Table { topics, by_topic }
});

/// Topic 0 of every event this crate decodes: the store should keep every raw log whose first topic is
/// in this set (ERC-20 `Transfer` is not in it; it becomes a [`chaintrace_core::Transfer`]).
pub fn topics_of_interest() -> &'static [[u8; 32]] {
    &TABLE.topics
}

/// Whether a log with this topic 0 should be kept for this crate.
pub fn is_topic_of_interest(topic0: &[u8; 32]) -> bool {
    TABLE.by_topic.contains_key(topic0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex32(s: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 + 2 * i..4 + 2 * i], 16).expect("test hex");
        }
        out
    }

    #[test]
    fn topics_match_the_values_seen_on_chain() {
        // Values as published by explorers and in the public sources cited in docs/.
        let pinned = [
            (
                KnownEvent::UniswapV2Swap,
                "0xd78ad95fa46c994b6551d0da85fc275fe613ce37657fb8d5e3d130840159d822",
            ),
            (
                KnownEvent::UniswapV3Swap,
                "0xc42079f94a6350d7e6235f29174924f928cc2ac818eb64fed8004e115fbcca67",
            ),
            (
                KnownEvent::WethDeposit,
                "0xe1fffcc4923d04b559f4d29a8bfc6cda04eb5b0d3c460751c2402c5c5cc9109c",
            ),
            (
                KnownEvent::WethWithdrawal,
                "0x7fcf532c15f0a6db0bd6d0e038bea71d30d808c7d98cb3bf7268a95bf5081b65",
            ),
            (
                KnownEvent::ArbL2ToL1Tx,
                "0x3e7aafa77dbf186b7fd488006beff893744caa3c4f6f299e8a709fa2087374fc",
            ),
            (
                KnownEvent::ArbMessageDelivered,
                "0x5e3c1311ea442664e8b1611bfabef659120ea7a0a2cfc0667700bebc69cbffe1",
            ),
            (
                KnownEvent::TornadoDeposit,
                "0xa945e51eec50ab98c161376f0db4cf2aeba3ec92755fe2fcd388bdbbb80ff196",
            ),
            (
                KnownEvent::TornadoWithdrawal,
                "0xe9e508bad6d4c3227e881ca19068f099da81b5164dd6d62b2eaf1e8bc6c34931",
            ),
        ];
        for (event, hex) in pinned {
            assert_eq!(event.topic(), hex32(hex), "{event:?}");
            assert_eq!(KnownEvent::from_topic(&hex32(hex)), Some(event));
        }
    }

    #[test]
    fn every_known_event_has_a_distinct_topic() {
        assert_eq!(topics_of_interest().len(), KnownEvent::ALL.len());
        for (i, e) in KnownEvent::ALL.iter().enumerate() {
            assert_eq!(*e as usize, i, "ALL must list events in declaration order");
            assert_eq!(KnownEvent::from_topic(&e.topic()), Some(*e));
            assert!(is_topic_of_interest(&e.topic()));
        }
        let transfer = alloy_primitives::keccak256(b"Transfer(address,address,uint256)").0;
        assert!(!is_topic_of_interest(&transfer));
    }
}
