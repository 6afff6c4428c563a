//! Scenario drivers: send known transactions to a dev node and compute, from what was sent and the
//! receipts that came back (hashes, log indexes, created addresses, fees), the exact transfers an
//! ingest of the blocks must store. Never derived from chaintrace's own decoding.

use std::collections::HashMap;

use chaintrace_core::{Address, Asset, Chain, Position, Transfer, TransferKind, TxHash, U256};

use crate::abi::{Token, encode_call, event_topic, word_address};
use crate::contracts::Contract;
use crate::{DevRpc, Receipt, TestkitError, TxRequest};

/// Gas given to transactions that are meant to fail (the node cannot estimate gas for a revert).
const FAILING_TX_GAS: u64 = 300_000;

/// One wei-denominated ether.
pub fn ether(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u8))
}

/// Where a transfer's receiver comes from.
#[derive(Debug, Clone)]
pub enum Receiver {
    /// A known address.
    Known(Address),
    /// The contract the transaction created (receipt `contractAddress`).
    CreatedByTx,
    /// An address in word `word` of the data of the transaction's `log`-th log.
    LogWord {
        /// Index of the log within the receipt.
        log: usize,
        /// Index of the 32-byte word in the log's data.
        word: usize,
    },
}

/// A transfer a transaction is expected to make.
#[derive(Debug, Clone)]
pub enum Move {
    /// The transaction's own value, from its sender.
    Native {
        /// Receiver.
        to: Receiver,
        /// Wei.
        value: U256,
    },
    /// Value moved by an internal call at trace address `path`.
    Internal {
        /// Trace address.
        path: Vec<u32>,
        /// Sender.
        from: Address,
        /// Receiver.
        to: Receiver,
        /// Wei.
        value: U256,
    },
    /// An ERC-20 Transfer event: the transaction's `log`-th log.
    Token {
        /// Index of the log within the receipt.
        log: usize,
        /// Token contract.
        token: Address,
        /// Sender.
        from: Address,
        /// Receiver.
        to: Address,
        /// Raw token units.
        amount: U256,
    },
}

#[derive(Debug)]
struct Pending {
    step: String,
    hash: TxHash,
    from: Address,
    should_succeed: bool,
    moves: Vec<Move>,
}

/// Drives a dev node and keeps the list of transfers its transactions must have produced.
#[derive(Debug)]
pub struct Scenario {
    rpc: DevRpc,
    chain: Chain,
    accounts: Vec<Address>,
    pending: Vec<Pending>,
    expected: Vec<Transfer>,
    timestamps: HashMap<u64, u64>,
    first_block: Option<u64>,
    last_block: Option<u64>,
    is_automine: bool,
}

impl Scenario {
    /// A driver for the node behind `rpc`, whose transfers are labelled `chain`.
    pub fn new(rpc: DevRpc, chain: Chain) -> Result<Scenario, TestkitError> {
        let accounts = rpc.accounts()?;
        if accounts.len() < 10 {
            return Err(TestkitError::Scenario {
                step: "accounts".into(),
                what: format!("need 10 dev accounts, node has {}", accounts.len()),
            });
        }
        Ok(Scenario {
            rpc,
            chain,
            accounts,
            pending: Vec::new(),
            expected: Vec::new(),
            timestamps: HashMap::new(),
            first_block: None,
            last_block: None,
            is_automine: true,
        })
    }

    /// The node's unlocked dev accounts.
    pub fn accounts(&self) -> &[Address] {
        &self.accounts
    }

    /// The client in use.
    pub fn rpc(&self) -> &DevRpc {
        &self.rpc
    }

    /// Transfers expected so far (of settled transactions), in send order.
    pub fn expected(&self) -> &[Transfer] {
        &self.expected
    }

    /// Lowest and highest block holding a settled transaction of this scenario.
    pub fn block_range(&self) -> Option<(u64, u64)> {
        Some((self.first_block?, self.last_block?))
    }

    /// Turns automine off: transactions then wait until [`Scenario::mine`], so several share a block.
    pub fn hold_blocks(&mut self) -> Result<(), TestkitError> {
        self.rpc.set_automine(false)?;
        self.is_automine = false;
        Ok(())
    }

    /// Mines the pending transactions into one block and settles them.
    pub fn mine(&mut self) -> Result<(), TestkitError> {
        self.rpc.mine()?;
        self.settle()
    }

    /// Sends a transaction expected to make `moves` (or, when `should_succeed` is false, to fail and
    /// make nothing). With automine on it is settled at once.
    pub fn send(
        &mut self,
        step: &str,
        tx: TxRequest,
        should_succeed: bool,
        moves: Vec<Move>,
    ) -> Result<TxHash, TestkitError> {
        let hash = self.rpc.send(&tx).map_err(|e| TestkitError::Scenario {
            step: step.to_string(),
            what: e.to_string(),
        })?;
        self.pending.push(Pending {
            step: step.to_string(),
            hash,
            from: tx.from,
            should_succeed,
            moves,
        });
        if self.is_automine {
            self.settle()?;
        }
        Ok(hash)
    }

    /// Waits for every pending transaction's receipt and turns its moves into expected transfers.
    pub fn settle(&mut self) -> Result<(), TestkitError> {
        for p in std::mem::take(&mut self.pending) {
            let receipt = self.rpc.wait_receipt(p.hash)?;
            self.record(p, &receipt)?;
        }
        Ok(())
    }

    fn record(&mut self, p: Pending, receipt: &Receipt) -> Result<(), TestkitError> {
        let fail = |what: String| TestkitError::Scenario {
            step: p.step.clone(),
            what,
        };
        if receipt.is_success != p.should_succeed {
            return Err(fail(format!(
                "status success={} but expected {}",
                receipt.is_success, p.should_succeed
            )));
        }
        let block = receipt.block_number;
        self.first_block = Some(self.first_block.map_or(block, |b| b.min(block)));
        self.last_block = Some(self.last_block.map_or(block, |b| b.max(block)));
        if !receipt.is_success {
            return Ok(());
        }
        let timestamp = match self.timestamps.get(&block) {
            Some(t) => *t,
            None => {
                let t = self.rpc.block(block)?.timestamp;
                self.timestamps.insert(block, t);
                t
            }
        };
        let receiver = |r: &Receiver| -> Result<Address, TestkitError> {
            match r {
                Receiver::Known(a) => Ok(*a),
                Receiver::CreatedByTx => receipt
                    .contract_address
                    .ok_or_else(|| fail("no contractAddress".into())),
                Receiver::LogWord { log, word } => receipt
                    .logs
                    .get(*log)
                    .and_then(|l| l.data.get(word * 32..word * 32 + 32))
                    .and_then(word_address)
                    .ok_or_else(|| fail(format!("no address in word {word} of log {log}"))),
            }
        };
        let transfer_topic = event_topic("Transfer(address,address,uint256)");
        for m in &p.moves {
            let (position, from, to, asset, amount, kind) = match m {
                Move::Native { to, value } => (
                    Position::Tx,
                    p.from,
                    receiver(to)?,
                    Asset::Native,
                    *value,
                    TransferKind::Native,
                ),
                Move::Internal {
                    path,
                    from,
                    to,
                    value,
                } => (
                    Position::Trace(path.clone()),
                    *from,
                    receiver(to)?,
                    Asset::Native,
                    *value,
                    TransferKind::Internal,
                ),
                Move::Token {
                    log,
                    token,
                    from,
                    to,
                    amount,
                } => {
                    let l = receipt
                        .logs
                        .get(*log)
                        .ok_or_else(|| fail(format!("no log {log}")))?;
                    if l.address != *token || l.topics.first() != Some(&transfer_topic) {
                        return Err(fail(format!("log {log} is not a Transfer event of {token}")));
                    }
                    (
                        Position::Log(l.log_index),
                        *from,
                        *to,
                        Asset::Token(*token),
                        *amount,
                        TransferKind::Token,
                    )
                }
            };
            self.expected.push(Transfer {
                chain: self.chain,
                block,
                timestamp,
                tx_hash: receipt.tx_hash,
                position,
                from,
                to,
                asset,
                amount,
                kind,
                tx_from: p.from,
                tx_fee: receipt.fee(),
                gas_price: receipt.effective_gas_price,
            });
        }
        Ok(())
    }

    /// Deploys `contract` from `from` with `value`; returns its address (automine only).
    pub fn deploy(
        &mut self,
        from: Address,
        contract: Contract,
        args: &[Token],
        value: U256,
        extra_moves: Vec<Move>,
    ) -> Result<Address, TestkitError> {
        let step = format!("deploy {contract:?}");
        let mut moves = extra_moves;
        if !value.is_zero() {
            moves.insert(
                0,
                Move::Native {
                    to: Receiver::CreatedByTx,
                    value,
                },
            );
        }
        let tx = TxRequest {
            from,
            to: None,
            value,
            data: contract.deploy_data(args),
            gas: None,
        };
        let hash = self.send(&step, tx, true, moves)?;
        self.require_automine(&step)?;
        let receipt = self.rpc.wait_receipt(hash)?;
        receipt.contract_address.ok_or(TestkitError::Scenario {
            step,
            what: "no contractAddress".into(),
        })
    }

    fn require_automine(&self, step: &str) -> Result<(), TestkitError> {
        if self.is_automine {
            Ok(())
        } else {
            Err(TestkitError::Scenario {
                step: step.into(),
                what: "needs automine (call before hold_blocks)".into(),
            })
        }
    }

    /// Deploys the test token with `supply` minted to `from` (one Transfer from the zero address).
    pub fn deploy_token(&mut self, from: Address, supply: U256) -> Result<Address, TestkitError> {
        // The token's address is only known after the receipt, so its mint is recorded via a log check.
        let args = [
            Token::Str("Chaintrace Test Token".into()),
            Token::Str("CTT".into()),
            Token::Uint(supply),
        ];
        let tx = TxRequest {
            from,
            to: None,
            value: U256::ZERO,
            data: Contract::Token.deploy_data(&args),
            gas: None,
        };
        let hash = self.rpc.send(&tx)?;
        let receipt = self.rpc.wait_receipt(hash)?;
        let token = receipt.contract_address.ok_or_else(|| TestkitError::Scenario {
            step: "deploy token".into(),
            what: "no contractAddress".into(),
        })?;
        let moves = vec![Move::Token {
            log: 0,
            token,
            from: Address::ZERO,
            to: from,
            amount: supply,
        }];
        self.record(
            Pending {
                step: "deploy token".into(),
                hash,
                from,
                should_succeed: true,
                moves,
            },
            &receipt,
        )?;
        Ok(token)
    }

    /// A plain ETH transfer.
    pub fn send_native(&mut self, from: Address, to: Address, value: U256) -> Result<TxHash, TestkitError> {
        let tx = TxRequest {
            from,
            to: Some(to),
            value,
            data: Vec::new(),
            gas: None,
        };
        let moves = if value.is_zero() {
            Vec::new()
        } else {
            vec![Move::Native {
                to: Receiver::Known(to),
                value,
            }]
        };
        self.send("native transfer", tx, true, moves)
    }

    /// `token.transfer(to, amount)` from `from`.
    pub fn token_transfer(
        &mut self,
        token: Address,
        from: Address,
        to: Address,
        amount: U256,
    ) -> Result<TxHash, TestkitError> {
        let data = encode_call(
            "transfer(address,uint256)",
            &[Token::Address(to), Token::Uint(amount)],
        );
        let tx = TxRequest {
            from,
            to: Some(token),
            value: U256::ZERO,
            data,
            gas: None,
        };
        self.send(
            "token transfer",
            tx,
            true,
            vec![Move::Token {
                log: 0,
                token,
                from,
                to,
                amount,
            }],
        )
    }

    /// `token.approve(spender, amount)` from `owner` (no transfer).
    pub fn token_approve(
        &mut self,
        token: Address,
        owner: Address,
        spender: Address,
        amount: U256,
    ) -> Result<TxHash, TestkitError> {
        let data = encode_call(
            "approve(address,uint256)",
            &[Token::Address(spender), Token::Uint(amount)],
        );
        let tx = TxRequest {
            from: owner,
            to: Some(token),
            value: U256::ZERO,
            data,
            gas: None,
        };
        self.send("token approve", tx, true, Vec::new())
    }

    /// `token.transferFrom(owner, to, amount)` sent by `spender`.
    pub fn token_transfer_from(
        &mut self,
        token: Address,
        spender: Address,
        owner: Address,
        to: Address,
        amount: U256,
    ) -> Result<TxHash, TestkitError> {
        let data = encode_call(
            "transferFrom(address,address,uint256)",
            &[Token::Address(owner), Token::Address(to), Token::Uint(amount)],
        );
        let tx = TxRequest {
            from: spender,
            to: Some(token),
            value: U256::ZERO,
            data,
            gas: None,
        };
        self.send(
            "token transferFrom",
            tx,
            true,
            vec![Move::Token {
                log: 0,
                token,
                from: owner,
                to,
                amount,
            }],
        )
    }

    /// `token.batchTransfer(recipients, amounts)` from `from`: one Transfer event per recipient.
    pub fn token_batch(
        &mut self,
        token: Address,
        from: Address,
        recipients: &[Address],
        amounts: &[U256],
    ) -> Result<TxHash, TestkitError> {
        let data = encode_call(
            "batchTransfer(address[],uint256[])",
            &[
                Token::Addresses(recipients.to_vec()),
                Token::Uints(amounts.to_vec()),
            ],
        );
        let moves = recipients
            .iter()
            .zip(amounts)
            .enumerate()
            .map(|(log, (to, amount))| Move::Token {
                log,
                token,
                from,
                to: *to,
                amount: *amount,
            })
            .collect();
        // Explicit gas: estimating a 500-recipient batch costs as much as running it.
        let gas = 60_000 + 40_000 * recipients.len() as u64;
        let tx = TxRequest {
            from,
            to: Some(token),
            value: U256::ZERO,
            data,
            gas: Some(gas),
        };
        self.send("token batchTransfer", tx, true, moves)
    }
}

/// What [`basic`] did: the token it deployed and the expected transfers.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Every transfer the scenario's blocks hold, sorted by (block, tx hash, position).
    pub expected: Vec<Transfer>,
    /// First block holding a scenario transaction.
    pub first_block: u64,
    /// Last block holding a scenario transaction.
    pub last_block: u64,
    /// The test token.
    pub token: Address,
    /// The dev accounts used.
    pub accounts: Vec<Address>,
}

/// Sorts transfers by their identity, the order the live tests compare in.
pub fn sort_transfers(transfers: &mut [Transfer]) {
    transfers.sort_by(|a, b| {
        (a.chain, a.block, a.tx_hash, &a.position).cmp(&(b.chain, b.block, b.tx_hash, &b.position))
    });
}

fn finish(s: Scenario, token: Address) -> Result<Outcome, TestkitError> {
    let (first_block, last_block) = s.block_range().ok_or_else(|| TestkitError::Scenario {
        step: "finish".into(),
        what: "no transaction was sent".into(),
    })?;
    let mut expected = s.expected.clone();
    sort_transfers(&mut expected);
    Ok(Outcome {
        expected,
        first_block,
        last_block,
        token,
        accounts: s.accounts.clone(),
    })
}

/// The feature scenario: a token (mint, transfer, zero-value transfer, transferFrom, batch), native
/// transfers (three in one block), ETH forwarded through a contract (internal transfer), a transaction
/// that reverts after an internal transfer (nothing), a successful call whose inner call reverted
/// (only the outer value), a contract created with value by a transaction and by a contract.
pub fn basic(rpc: &DevRpc, chain: Chain) -> Result<Outcome, TestkitError> {
    let mut s = Scenario::new(rpc.clone(), chain)?;
    let a = s.accounts().to_vec();

    let token = s.deploy_token(a[0], ether(1_000_000))?;
    s.send_native(a[0], a[1], ether(1))?;
    s.send_native(a[1], a[2], ether(1) / U256::from(4u8))?;
    s.token_transfer(token, a[0], a[1], ether(1000))?;
    s.token_transfer(token, a[1], a[3], U256::ZERO)?;
    s.token_approve(token, a[0], a[2], ether(10))?;
    s.token_transfer_from(token, a[2], a[0], a[4], ether(5))?;
    let amounts = [U256::from(1u8), U256::from(2u8), U256::from(3u8)];
    s.token_batch(token, a[0], &[a[5], a[6], a[7]], &amounts)?;

    // ETH forwarded by a contract: native (sender -> forwarder) + internal (forwarder -> target).
    let forwarder = s.deploy(
        a[0],
        Contract::Forwarder,
        &[Token::Address(a[8])],
        U256::ZERO,
        Vec::new(),
    )?;
    let half = ether(1) / U256::from(2u8);
    s.send(
        "forward via receive()",
        TxRequest {
            from: a[2],
            to: Some(forwarder),
            value: half,
            data: Vec::new(),
            gas: Some(100_000),
        },
        true,
        vec![
            Move::Native {
                to: Receiver::Known(forwarder),
                value: half,
            },
            Move::Internal {
                path: vec![0],
                from: forwarder,
                to: Receiver::Known(a[8]),
                value: half,
            },
        ],
    )?;
    let third = ether(1) / U256::from(3u8);
    s.send(
        "forwardTo(a9)",
        TxRequest {
            from: a[3],
            to: Some(forwarder),
            value: third,
            data: encode_call("forwardTo(address)", &[Token::Address(a[9])]),
            gas: None,
        },
        true,
        vec![
            Move::Native {
                to: Receiver::Known(forwarder),
                value: third,
            },
            Move::Internal {
                path: vec![0],
                from: forwarder,
                to: Receiver::Known(a[9]),
                value: third,
            },
        ],
    )?;

    // A reverted transaction records nothing, though its internal call moved value before the revert.
    let reverter = s.deploy(a[0], Contract::Reverter, &[], U256::ZERO, Vec::new())?;
    s.send(
        "sendThenRevert",
        TxRequest {
            from: a[4],
            to: Some(reverter),
            value: ether(1),
            data: encode_call("sendThenRevert(address)", &[Token::Address(a[5])]),
            gas: Some(FAILING_TX_GAS),
        },
        false,
        Vec::new(),
    )?;
    // A successful transaction whose inner call reverted: only the outer value counts.
    let tenth = ether(1) / U256::from(10u8);
    s.send(
        "keepAfterInnerRevert",
        TxRequest {
            from: a[4],
            to: Some(reverter),
            value: tenth,
            data: encode_call("keepAfterInnerRevert(address)", &[Token::Address(a[5])]),
            gas: Some(FAILING_TX_GAS),
        },
        true,
        vec![Move::Native {
            to: Receiver::Known(reverter),
            value: tenth,
        }],
    )?;

    // Contracts created with value: by a transaction, and by a contract (internal create).
    s.deploy(a[5], Contract::Vault, &[], ether(2), Vec::new())?;
    let factory = s.deploy(a[0], Contract::VaultFactory, &[], U256::ZERO, Vec::new())?;
    let seven_tenths = ether(7) / U256::from(10u8);
    s.send(
        "VaultFactory.create",
        TxRequest {
            from: a[6],
            to: Some(factory),
            value: seven_tenths,
            data: encode_call("create()", &[]),
            gas: None,
        },
        true,
        vec![
            Move::Native {
                to: Receiver::Known(factory),
                value: seven_tenths,
            },
            // The new vault's address is the first word of the factory's Created(address,uint256) event.
            Move::Internal {
                path: vec![0],
                from: factory,
                to: Receiver::LogWord { log: 0, word: 0 },
                value: seven_tenths,
            },
        ],
    )?;

    // Three transactions in one block, one of them a token transfer.
    s.hold_blocks()?;
    s.send_native(a[7], a[8], ether(3))?;
    s.send_native(a[8], a[9], ether(2))?;
    s.token_transfer(token, a[0], a[9], ether(7))?;
    s.mine()?;
    s.rpc().set_automine(true)?;
    finish(s, token)
}

/// Many small blocks: `rounds` x (a batch of `recipients` token transfers + one native transfer), each
/// transaction in its own block (2 x `rounds` blocks, `rounds` x (`recipients` + 1) transfers).
pub fn many_blocks(
    rpc: &DevRpc,
    chain: Chain,
    rounds: usize,
    recipients: usize,
) -> Result<Outcome, TestkitError> {
    let mut s = Scenario::new(rpc.clone(), chain)?;
    let a = s.accounts().to_vec();
    let token = s.deploy_token(a[0], ether(1_000_000_000))?;
    for round in 0..rounds {
        let to: Vec<Address> = (0..recipients)
            .map(|i| derived_address(round * recipients + i))
            .collect();
        let amounts: Vec<U256> = (0..recipients)
            .map(|i| U256::from(1 + round * recipients + i))
            .collect();
        s.token_batch(token, a[0], &to, &amounts)?;
        s.send_native(
            a[1 + round % 9],
            derived_address(1_000_000 + round),
            U256::from(1_000 + round),
        )?;
    }
    finish(s, token)
}

/// The ingest benchmark's chain: `batch_txs` batches of `recipients` token transfers and `natives`
/// native transfers, `txs_per_block` transactions per block.
pub fn bench(
    rpc: &DevRpc,
    chain: Chain,
    batch_txs: usize,
    recipients: usize,
    natives: usize,
    txs_per_block: usize,
) -> Result<Outcome, TestkitError> {
    let mut s = Scenario::new(rpc.clone(), chain)?;
    let a = s.accounts().to_vec();
    let token = s.deploy_token(a[0], ether(1_000_000_000))?;
    s.hold_blocks()?;
    let total = batch_txs + natives;
    let mut in_block = 0;
    for i in 0..total {
        // Interleave: one batch every total/batch_txs transactions.
        let is_batch = batch_txs > 0 && i * batch_txs / total != (i + 1) * batch_txs / total;
        if is_batch {
            let round = (i + 1) * batch_txs / total - 1;
            let to: Vec<Address> = (0..recipients)
                .map(|k| derived_address((round * 7 + k) % 20_000))
                .collect();
            let amounts: Vec<U256> = (0..recipients).map(|k| U256::from(1 + k)).collect();
            s.token_batch(token, a[0], &to, &amounts)?;
        } else {
            s.send_native(
                a[1 + i % 9],
                derived_address(50_000 + i % 5_000),
                U256::from(1 + i),
            )?;
        }
        in_block += 1;
        if in_block == txs_per_block.max(1) {
            s.mine()?;
            in_block = 0;
        }
    }
    if in_block > 0 {
        s.mine()?;
    }
    s.rpc().set_automine(true)?;
    finish(s, token)
}

/// A deterministic non-dev address (`0xc0de` followed by `n`).
pub fn derived_address(n: usize) -> Address {
    let mut b = [0u8; 20];
    b[0] = 0xc0;
    b[1] = 0xde;
    b[12..].copy_from_slice(&(n as u64).to_be_bytes());
    Address(b)
}
