use std::collections::HashSet;

use chaintrace_core::{Address, Asset, Chain, Position, RawLog, Transfer, TransferKind, TxHash, U256};

use super::{BridgeEvent, BridgeEvidence, BridgeRegistry, BridgeSide, MessageId};
use crate::KnownEvent;
use crate::abi::{data_address, data_u256, topic_address, topic_b256, topic_u256, word};
use crate::txkey::TxMap;

/// Optimism's legacy L2 ETH token (`Predeploys.LEGACY_ERC20_ETH`): `l2Token` of ETH deposits/withdrawals.
const OP_LEGACY_ETH: [u8; 20] = [
    0xde, 0xad, 0xde, 0xad, 0xde, 0xad, 0xde, 0xad, 0xde, 0xad, 0xde, 0xad, 0xde, 0xad, 0xde, 0xad, 0xde,
    0xad, 0x00, 0x00,
];

/// Arbitrum `L1MessageType_ethDeposit`.
const ARB_ETH_DEPOSIT_KIND: u8 = 12;

/// Decodes the bridge events of a batch (any mix of chains and transactions): logs of known bridge
/// events emitted by registered contracts, then plain transfers into / out of registered addresses in
/// transactions where no log of the same bridge was decoded (so nothing is counted twice).
pub fn decode_bridge_events(
    logs: &[RawLog],
    transfers: &[Transfer],
    registry: &BridgeRegistry,
) -> Vec<BridgeEvent> {
    let mut tx_logs: TxMap<(Chain, TxHash), Vec<&RawLog>> = TxMap::default();
    let mut order: Vec<(Chain, TxHash)> = Vec::new();
    for log in logs {
        if KnownEvent::of_log(log).is_none() || registry.entry(log.chain, log.address).is_none() {
            continue;
        }
        let key = (log.chain, log.tx_hash);
        let v = tx_logs.entry(key).or_default();
        if v.is_empty() {
            order.push(key);
        }
        v.push(log);
    }
    let mut tx_transfers: TxMap<(Chain, TxHash), Vec<&Transfer>> = TxMap::default();
    for t in transfers {
        if tx_logs.contains_key(&(t.chain, t.tx_hash)) {
            tx_transfers.entry((t.chain, t.tx_hash)).or_default().push(t);
        }
    }
    let mut out = Vec::new();
    let mut covered: HashSet<(Chain, TxHash, String)> = HashSet::new();
    for key in &order {
        let logs = &tx_logs[key];
        let transfers = tx_transfers.get(key).map(Vec::as_slice).unwrap_or(&[]);
        for log in logs {
            let Some(entry) = registry.entry(log.chain, log.address) else {
                continue;
            };
            if let Some(ev) = decode_log(log, logs, transfers, &entry.bridge) {
                covered.insert((ev.chain, ev.tx_hash, ev.bridge.clone()));
                out.push(ev);
            }
        }
    }
    for t in transfers {
        if t.amount.is_zero() || t.from == t.to {
            continue;
        }
        let into = registry.entry(t.chain, t.to).filter(|e| e.role.takes_deposits());
        let out_of = registry.entry(t.chain, t.from).filter(|e| e.role.pays_releases());
        // Shuffles between two contracts of the same bridge are internal, not deposits or releases.
        if let (Some(a), Some(b)) = (into, out_of)
            && a.bridge == b.bridge
        {
            continue;
        }
        for (entry, side) in [(into, BridgeSide::Deposit), (out_of, BridgeSide::Release)] {
            let Some(entry) = entry else { continue };
            if covered.contains(&(t.chain, t.tx_hash, entry.bridge.clone())) {
                continue;
            }
            let (contract, from, recipient) = match side {
                BridgeSide::Deposit => (t.to, Some(t.from), None),
                BridgeSide::Release => (t.from, None, Some(t.to)),
            };
            out.push(BridgeEvent {
                side,
                bridge: entry.bridge.clone(),
                chain: t.chain,
                block: t.block,
                timestamp: t.timestamp,
                tx_hash: t.tx_hash,
                position: t.position.clone(),
                contract,
                from,
                recipient,
                tx_from: t.tx_from,
                asset: t.asset,
                amount: t.amount,
                counterpart_chain: None,
                message_id: None,
                evidence: BridgeEvidence::Transfer,
            });
        }
    }
    out
}

/// The canonical rollup pair: Ethereum <-> the L2 the bridge serves.
fn rollup_other(chain: Chain, l2: Chain) -> Option<Chain> {
    if chain == Chain::Ethereum {
        Some(l2)
    } else if chain == l2 {
        Some(Chain::Ethereum)
    } else {
        None
    }
}

/// LayerZero v1 endpoint ids used by Stargate v1.
fn layerzero_chain(id: U256) -> Option<Chain> {
    match u64::try_from(id).ok()? {
        101 => Some(Chain::Ethereum),
        102 => Some(Chain::Bsc),
        109 => Some(Chain::Polygon),
        110 => Some(Chain::Arbitrum),
        111 => Some(Chain::Optimism),
        _ => None,
    }
}

fn evm_chain(id: U256) -> Option<Chain> {
    u64::try_from(id).ok().and_then(Chain::from_chain_id)
}

fn word_of(v: U256) -> [u8; 32] {
    v.to_be_bytes::<32>()
}

/// Fields every decoded log event fills the same way.
struct Draft<'a> {
    log: &'a RawLog,
    bridge: &'a str,
}

impl Draft<'_> {
    #[allow(clippy::too_many_arguments)] // one constructor for every decoder keeps field mapping in one place
    fn event(
        &self,
        side: BridgeSide,
        from: Option<Address>,
        recipient: Option<Address>,
        asset: Asset,
        amount: U256,
        counterpart_chain: Option<Chain>,
        message_id: Option<MessageId>,
        event: KnownEvent,
    ) -> BridgeEvent {
        BridgeEvent {
            side,
            bridge: self.bridge.to_string(),
            chain: self.log.chain,
            block: self.log.block,
            timestamp: self.log.timestamp,
            tx_hash: self.log.tx_hash,
            position: Position::Log(self.log.log_index),
            contract: self.log.address,
            from,
            recipient,
            tx_from: self.log.tx_from,
            asset,
            amount,
            counterpart_chain,
            message_id,
            evidence: BridgeEvidence::Log(event),
        }
    }
}

fn decode_log(
    log: &RawLog,
    tx_logs: &[&RawLog],
    transfers: &[&Transfer],
    bridge: &str,
) -> Option<BridgeEvent> {
    use BridgeSide::{Deposit, Release};
    let event = KnownEvent::of_log(log)?;
    let d = Draft { log, bridge };
    let token = |a: Address| {
        if a == Address::ZERO {
            Asset::Native
        } else {
            Asset::Token(a)
        }
    };
    let ev = match event {
        KnownEvent::OpEthDepositInitiated | KnownEvent::OpEthWithdrawalFinalized => {
            let (from, to, amount) = (topic_address(log, 1)?, topic_address(log, 2)?, data_u256(log, 0)?);
            let side = if event == KnownEvent::OpEthDepositInitiated {
                Deposit
            } else {
                Release
            };
            let other = rollup_other(log.chain, Chain::Optimism);
            d.event(
                side,
                Some(from),
                Some(to),
                Asset::Native,
                amount,
                other,
                None,
                event,
            )
        }
        KnownEvent::OpErc20DepositInitiated
        | KnownEvent::OpErc20WithdrawalFinalized
        | KnownEvent::OpDepositFinalized
        | KnownEvent::OpWithdrawalInitiated => {
            let (l1_token, l2_token, from) = (
                topic_address(log, 1)?,
                topic_address(log, 2)?,
                topic_address(log, 3)?,
            );
            let (to, amount) = (data_address(log, 0)?, data_u256(log, 1)?);
            let on_l2 = matches!(
                event,
                KnownEvent::OpDepositFinalized | KnownEvent::OpWithdrawalInitiated
            );
            let asset = if on_l2 {
                if l2_token.0 == OP_LEGACY_ETH || l1_token == Address::ZERO {
                    Asset::Native
                } else {
                    token(l2_token)
                }
            } else {
                token(l1_token)
            };
            let side = match event {
                KnownEvent::OpErc20DepositInitiated | KnownEvent::OpWithdrawalInitiated => Deposit,
                _ => Release,
            };
            let other = rollup_other(log.chain, Chain::Optimism);
            d.event(side, Some(from), Some(to), asset, amount, other, None, event)
        }
        KnownEvent::ArbInboxMessageDelivered => {
            // ETH deposit: the Bridge's MessageDelivered (kind 12) with the same index, body = dest ++ value.
            let index = topic_u256(log, 1)?;
            let delivered = tx_logs.iter().find(|l| {
                KnownEvent::of_log(l) == Some(KnownEvent::ArbMessageDelivered)
                    && topic_u256(l, 1) == Some(index)
            })?;
            let kind = data_u256(delivered, 1)?;
            if kind != U256::from(ARB_ETH_DEPOSIT_KIND) {
                return None;
            }
            let sender = data_address(delivered, 2)?;
            let len = usize::try_from(data_u256(log, 1)?).ok()?;
            let body = log.data.get(64..64 + len)?;
            if len != 52 {
                return None;
            }
            let dest = Address::from_slice(&body[..20])?;
            let amount = U256::from_be_slice(&body[20..52]);
            let other = rollup_other(log.chain, Chain::Arbitrum);
            d.event(
                Deposit,
                Some(sender),
                Some(dest),
                Asset::Native,
                amount,
                other,
                None,
                event,
            )
        }
        KnownEvent::ArbDepositInitiated => {
            let (from, to) = (topic_address(log, 1)?, topic_address(log, 2)?);
            let (l1_token, amount) = (data_address(log, 0)?, data_u256(log, 1)?);
            let other = rollup_other(log.chain, Chain::Arbitrum);
            d.event(
                Deposit,
                Some(from),
                Some(to),
                token(l1_token),
                amount,
                other,
                None,
                event,
            )
        }
        KnownEvent::ArbDepositFinalized => {
            let (l1_token, from, to) = (
                topic_address(log, 1)?,
                topic_address(log, 2)?,
                topic_address(log, 3)?,
            );
            let amount = data_u256(log, 0)?;
            // The L2 token is the one minted to `to` in this transaction.
            let minted = transfers.iter().find(|t| {
                t.kind == TransferKind::Token && t.from == Address::ZERO && t.to == to && t.amount == amount
            });
            let asset = minted.map(|t| t.asset).unwrap_or(token(l1_token));
            let other = rollup_other(log.chain, Chain::Arbitrum);
            d.event(Release, Some(from), Some(to), asset, amount, other, None, event)
        }
        KnownEvent::ArbWithdrawalInitiated => {
            let (from, to) = (topic_address(log, 1)?, topic_address(log, 2)?);
            let (l1_token, exit_num, amount) =
                (data_address(log, 0)?, data_u256(log, 1)?, data_u256(log, 2)?);
            let burned = transfers.iter().find(|t| {
                t.kind == TransferKind::Token && t.from == from && t.to == Address::ZERO && t.amount == amount
            });
            let asset = burned.map(|t| t.asset).unwrap_or(token(l1_token));
            let id = exit_id(l1_token, exit_num);
            let other = rollup_other(log.chain, Chain::Arbitrum);
            d.event(
                Deposit,
                Some(from),
                Some(to),
                asset,
                amount,
                other,
                Some(id),
                event,
            )
        }
        KnownEvent::ArbWithdrawalFinalized => {
            let (from, to, exit_num) = (
                topic_address(log, 1)?,
                topic_address(log, 2)?,
                topic_u256(log, 3)?,
            );
            let (l1_token, amount) = (data_address(log, 0)?, data_u256(log, 1)?);
            let id = exit_id(l1_token, exit_num);
            let other = rollup_other(log.chain, Chain::Arbitrum);
            d.event(
                Release,
                Some(from),
                Some(to),
                token(l1_token),
                amount,
                other,
                Some(id),
                event,
            )
        }
        KnownEvent::ArbL2ToL1Tx => {
            let (destination, position) = (topic_address(log, 1)?, topic_b256(log, 3)?);
            let (caller, callvalue) = (data_address(log, 0)?, data_u256(log, 4)?);
            if callvalue.is_zero() {
                return None; // a message without value (token withdrawals are read from their gateway)
            }
            let id = MessageId {
                namespace: "arbitrum-outbox".to_string(),
                id: position,
            };
            let other = rollup_other(log.chain, Chain::Arbitrum);
            d.event(
                Deposit,
                Some(caller),
                Some(destination),
                Asset::Native,
                callvalue,
                other,
                Some(id),
                event,
            )
        }
        KnownEvent::ArbOutBoxTransactionExecuted => {
            let (to, l2_sender, index) = (
                topic_address(log, 1)?,
                topic_address(log, 2)?,
                word(&log.data, 0)?,
            );
            let paid = transfers
                .iter()
                .filter(|t| t.asset == Asset::Native && t.to == to)
                .fold(U256::ZERO, |acc, t| acc.saturating_add(t.amount));
            if paid.is_zero() {
                return None; // executed a call without value (e.g. a token gateway's finalize)
            }
            let id = MessageId {
                namespace: "arbitrum-outbox".to_string(),
                id: *index,
            };
            let other = rollup_other(log.chain, Chain::Arbitrum);
            d.event(
                Release,
                Some(l2_sender),
                Some(to),
                Asset::Native,
                paid,
                other,
                Some(id),
                event,
            )
        }
        KnownEvent::AnySwapOut => {
            let (tok, from, to) = (
                topic_address(log, 1)?,
                topic_address(log, 2)?,
                topic_address(log, 3)?,
            );
            let (amount, to_chain) = (data_u256(log, 0)?, data_u256(log, 2)?);
            let id = MessageId {
                namespace: "multichain".to_string(),
                id: log.tx_hash.0,
            };
            d.event(
                Deposit,
                Some(from),
                Some(to),
                token(tok),
                amount,
                evm_chain(to_chain),
                Some(id),
                event,
            )
        }
        KnownEvent::AnySwapIn => {
            let (src_tx, tok, to) = (
                topic_b256(log, 1)?,
                topic_address(log, 2)?,
                topic_address(log, 3)?,
            );
            let (amount, from_chain) = (data_u256(log, 0)?, data_u256(log, 1)?);
            let id = MessageId {
                namespace: "multichain".to_string(),
                id: src_tx,
            };
            d.event(
                Release,
                None,
                Some(to),
                token(tok),
                amount,
                evm_chain(from_chain),
                Some(id),
                event,
            )
        }
        KnownEvent::StargateSwap => {
            let (dst, from, amount_sd) = (data_u256(log, 0)?, data_address(log, 2)?, data_u256(log, 3)?);
            let paid_in = transfers
                .iter()
                .find(|t| t.kind == TransferKind::Token && t.to == log.address);
            let asset = paid_in.map(|t| t.asset).unwrap_or(Asset::Token(log.address));
            d.event(
                Deposit,
                Some(from),
                None,
                asset,
                amount_sd,
                layerzero_chain(dst),
                None,
                event,
            )
        }
        KnownEvent::StargateSwapRemote => {
            let (to, amount_sd) = (data_address(log, 0)?, data_u256(log, 1)?);
            let paid_out = transfers
                .iter()
                .find(|t| t.kind == TransferKind::Token && t.from == log.address && t.to == to);
            let asset = paid_out.map(|t| t.asset).unwrap_or(Asset::Token(log.address));
            d.event(Release, None, Some(to), asset, amount_sd, None, None, event)
        }
        KnownEvent::BridgeDeposit => {
            let (id, tok, from) = (
                topic_b256(log, 1)?,
                topic_address(log, 2)?,
                topic_address(log, 3)?,
            );
            let (recipient, amount, dst) = (data_address(log, 0)?, data_u256(log, 1)?, data_u256(log, 2)?);
            let id = MessageId {
                namespace: bridge.to_string(),
                id,
            };
            d.event(
                Deposit,
                Some(from),
                Some(recipient),
                token(tok),
                amount,
                evm_chain(dst),
                Some(id),
                event,
            )
        }
        KnownEvent::BridgeRelease => {
            let (id, tok, recipient) = (
                topic_b256(log, 1)?,
                topic_address(log, 2)?,
                topic_address(log, 3)?,
            );
            let (amount, src) = (data_u256(log, 0)?, data_u256(log, 1)?);
            let id = MessageId {
                namespace: bridge.to_string(),
                id,
            };
            d.event(
                Release,
                None,
                Some(recipient),
                token(tok),
                amount,
                evm_chain(src),
                Some(id),
                event,
            )
        }
        _ => return None,
    };
    Some(ev)
}

/// Arbitrum token withdrawals: the gateway's exit number is per gateway, and gateways serve disjoint
/// tokens, so (L1 token, exit number) is unique on both sides.
fn exit_id(l1_token: Address, exit_num: U256) -> MessageId {
    let mut buf = [0u8; 52];
    buf[..20].copy_from_slice(&l1_token.0);
    buf[20..].copy_from_slice(&word_of(exit_num));
    MessageId {
        namespace: "arbitrum-exit".to_string(),
        id: alloy_primitives::keccak256(buf).0,
    }
}
