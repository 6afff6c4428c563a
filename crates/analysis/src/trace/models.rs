//! The three taint models as per-address state machines, and the time rule's "pending" bookkeeping.
//!
//! A model sees one address and one asset: inflows (with their tainted part) and outflows (it decides the
//! tainted part). Amounts are exact integers; haircut rounds down, so a model never creates value: what an
//! outflow does not carry stays at the address.

use std::collections::VecDeque;

use alloy_primitives::U512;
use chaintrace_core::U256;

/// Smallest-hop route by which taint reached a pool: hop count and the arena id of the arrival record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Route {
    pub(crate) hops: u32,
    pub(crate) rec: u32,
}

pub(crate) fn better(a: Option<Route>, b: Option<Route>) -> Option<Route> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y.hops < x.hops { y } else { x }),
        (x, None) => x,
        (None, y) => y,
    }
}

/// One model's per-address state and the value that moves along an edge.
pub(crate) trait TaintModel {
    /// What an address holds.
    type Pool: Default;
    /// What one transfer carries.
    type Flow: Clone;
    /// Whether clean inflows matter (balances); poison ignores them.
    const USES_INFLOWS: bool;
    /// A transfer of `amount`, all tainted.
    fn full(amount: U256) -> Self::Flow;
    /// A transfer of `amount`, all clean.
    fn clean(amount: U256) -> Self::Flow;
    /// A transfer of `amount` of which `taint` (at most `amount`) is tainted; fifo puts the tainted lot
    /// first. Used where a conversion hands taint to a transfer of another asset.
    fn mixed(amount: U256, taint: U256) -> Self::Flow;
    /// Tainted part of a flow.
    fn taint(f: &Self::Flow) -> U256;
    /// Receives a flow.
    fn add(pool: &mut Self::Pool, f: Self::Flow);
    /// Moves everything of `from` into `into` (after it).
    fn merge(into: &mut Self::Pool, from: Self::Pool);
    /// Tainted part an outflow of `amount` would carry, without changing the pool.
    fn peek(pool: &Self::Pool, amount: U256) -> U256;
    /// Sends `amount` out; returns what it carries.
    fn take(pool: &mut Self::Pool, amount: U256) -> Self::Flow;
    /// Taint the pool holds.
    fn held(pool: &Self::Pool) -> U256;
    /// Tainted part an outflow of `amount` would carry from `older` and `newer` seen as one pool (`newer`
    /// after `older`), without changing them.
    fn peek_split(older: &Self::Pool, newer: &Self::Pool, amount: U256) -> U256;
    /// Sends `amount` out of `older` and `newer` seen as one pool (`newer` after `older`) and leaves what
    /// remains of each in it, so that `older` never gains value from `newer`; returns what it carries.
    fn take_split(older: &mut Self::Pool, newer: &mut Self::Pool, amount: U256) -> Self::Flow;
}

/// Poison: once tainted, every later outflow is tainted in full. The "amount" is the amount moved.
pub(crate) struct Poison;

/// Poison flow: amount and whether it is tainted.
pub(crate) type PoisonFlow = (U256, bool);

impl TaintModel for Poison {
    type Pool = bool;
    type Flow = PoisonFlow;
    const USES_INFLOWS: bool = false;
    fn full(amount: U256) -> PoisonFlow {
        (amount, true)
    }
    fn clean(amount: U256) -> PoisonFlow {
        (amount, false)
    }
    fn mixed(amount: U256, taint: U256) -> PoisonFlow {
        (amount, !taint.is_zero())
    }
    fn taint(f: &PoisonFlow) -> U256 {
        if f.1 { f.0 } else { U256::ZERO }
    }
    fn add(pool: &mut bool, f: PoisonFlow) {
        *pool |= f.1;
    }
    fn merge(into: &mut bool, from: bool) {
        *into |= from;
    }
    fn peek(pool: &bool, amount: U256) -> U256 {
        if *pool { amount } else { U256::ZERO }
    }
    fn take(pool: &mut bool, amount: U256) -> PoisonFlow {
        (amount, *pool)
    }
    fn held(_pool: &bool) -> U256 {
        U256::ZERO
    }
    fn peek_split(older: &bool, newer: &bool, amount: U256) -> U256 {
        Self::peek(&(*older || *newer), amount)
    }
    fn take_split(older: &mut bool, newer: &mut bool, amount: U256) -> PoisonFlow {
        (amount, *older || *newer)
    }
}

/// Haircut: the address's balance is a mix; each outflow carries taint in proportion to the tainted share.
pub(crate) struct Haircut;

/// Haircut pool: balance and the tainted part of it (`taint <= balance` always).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mix {
    pub(crate) balance: U256,
    pub(crate) taint: U256,
}

/// `a * b / c` rounded down, exact for all 256-bit inputs (`c > 0`, result must fit: here `a <= c`).
pub(crate) fn mul_div_floor(a: U256, b: U256, c: U256) -> U256 {
    // Fast exact path: both factors below 2^64 and the divisor below 2^128 (amounts of real transfers).
    if let (Some(x), Some(y), Some(z)) = (narrow64(a), narrow64(b), narrow128(c))
        && z != 0
    {
        return U256::from((u128::from(x) * u128::from(y)) / z);
    }
    if let Some(p) = a.checked_mul(b) {
        return p / c;
    }
    let wide: U512 = a.widening_mul(b);
    let q = wide / U512::from(c);
    q.to::<U256>()
}

impl Haircut {
    /// Clamp: an outflow larger than the known balance means history is incomplete (or the address was
    /// funded in a way the store did not see); the missing part is assumed clean.
    fn effective_balance(pool: &Mix, amount: U256) -> U256 {
        pool.balance.max(amount)
    }

    fn combined(a: &Mix, b: &Mix) -> Mix {
        Mix {
            balance: a.balance.saturating_add(b.balance),
            taint: a.taint.saturating_add(b.taint),
        }
    }
}

/// `v` as a `u64`, when it fits.
#[inline]
fn narrow64(v: U256) -> Option<u64> {
    let l = v.as_limbs();
    (l[1] | l[2] | l[3] == 0).then_some(l[0])
}

/// `v` as a `u128`, when it fits.
#[inline]
fn narrow128(v: U256) -> Option<u128> {
    let l = v.as_limbs();
    (l[2] | l[3] == 0).then_some(u128::from(l[0]) | (u128::from(l[1]) << 64))
}

impl TaintModel for Haircut {
    type Pool = Mix;
    type Flow = Mix;
    const USES_INFLOWS: bool = true;
    fn full(amount: U256) -> Mix {
        Mix {
            balance: amount,
            taint: amount,
        }
    }
    fn clean(amount: U256) -> Mix {
        Mix {
            balance: amount,
            taint: U256::ZERO,
        }
    }
    fn mixed(amount: U256, taint: U256) -> Mix {
        Mix {
            balance: amount,
            taint: taint.min(amount),
        }
    }
    fn taint(f: &Mix) -> U256 {
        f.taint
    }
    fn add(pool: &mut Mix, f: Mix) {
        pool.balance = pool.balance.saturating_add(f.balance);
        if !f.taint.is_zero() {
            pool.taint = pool.taint.saturating_add(f.taint);
        }
        // `min`: a no-op unless the balance saturated (`taint <= balance` holds before).
        if pool.taint > pool.balance {
            pool.taint = pool.balance;
        }
    }
    fn merge(into: &mut Mix, from: Mix) {
        Self::add(into, from);
    }
    fn peek(pool: &Mix, amount: U256) -> U256 {
        if amount.is_zero() || pool.taint.is_zero() {
            return U256::ZERO;
        }
        mul_div_floor(pool.taint, amount, Self::effective_balance(pool, amount))
    }
    fn take(pool: &mut Mix, amount: U256) -> Mix {
        let t = Self::peek(pool, amount);
        let b = Self::effective_balance(pool, amount);
        pool.taint -= t;
        pool.balance = b - amount;
        Mix {
            balance: amount,
            taint: t,
        }
    }
    fn held(pool: &Mix) -> U256 {
        pool.taint
    }
    fn peek_split(older: &Mix, newer: &Mix, amount: U256) -> U256 {
        Self::peek(&Self::combined(older, newer), amount)
    }
    /// The outflow takes the same share `amount / balance` of each part (exactly when the division is
    /// exact; rounding remainders are settled so that both parts keep `taint <= balance` and the older part
    /// never gains taint).
    fn take_split(older: &mut Mix, newer: &mut Mix, amount: U256) -> Mix {
        let all = Self::combined(older, newer);
        let t = Self::peek(&all, amount);
        if amount >= all.balance {
            // Everything leaves (clamped if more than the known balance).
            *older = Mix::default();
            *newer = Mix::default();
            return Mix {
                balance: amount,
                taint: t,
            };
        }
        let rest_taint = all.taint - t;
        let newer_balance = newer.balance - mul_div_floor(newer.balance, amount, all.balance);
        let older_balance = all.balance - amount - newer_balance;
        let mut newer_taint = (newer.taint - mul_div_floor(newer.taint, amount, all.balance))
            .min(newer_balance)
            .min(rest_taint);
        let mut older_taint = rest_taint - newer_taint;
        if older_taint > older_balance {
            older_taint = older_balance;
            newer_taint = rest_taint - older_taint;
        }
        *older = Mix {
            balance: older_balance,
            taint: older_taint,
        };
        *newer = Mix {
            balance: newer_balance,
            taint: newer_taint,
        };
        Mix {
            balance: amount,
            taint: t,
        }
    }
}

/// FIFO: per address and asset, coins leave in the order they came in; lots are tainted or clean.
pub(crate) struct Fifo;

/// A run of coins: amount and whether tainted.
pub(crate) type Lot = (U256, bool);

fn push_lot(q: &mut VecDeque<Lot>, lot: Lot) {
    if lot.0.is_zero() {
        return;
    }
    match q.back_mut() {
        Some(back) if back.1 == lot.1 => back.0 = back.0.saturating_add(lot.0),
        _ => q.push_back(lot),
    }
}

impl TaintModel for Fifo {
    type Pool = VecDeque<Lot>;
    type Flow = Vec<Lot>;
    const USES_INFLOWS: bool = true;
    fn full(amount: U256) -> Vec<Lot> {
        vec![(amount, true)]
    }
    fn clean(amount: U256) -> Vec<Lot> {
        vec![(amount, false)]
    }
    fn mixed(amount: U256, taint: U256) -> Vec<Lot> {
        let t = taint.min(amount);
        let mut out = Vec::with_capacity(2);
        if !t.is_zero() {
            out.push((t, true));
        }
        if amount > t {
            out.push((amount - t, false));
        }
        out
    }
    fn taint(f: &Vec<Lot>) -> U256 {
        f.iter()
            .filter(|l| l.1)
            .fold(U256::ZERO, |s, l| s.saturating_add(l.0))
    }
    fn add(pool: &mut VecDeque<Lot>, f: Vec<Lot>) {
        for lot in f {
            push_lot(pool, lot);
        }
    }
    fn merge(into: &mut VecDeque<Lot>, from: VecDeque<Lot>) {
        for lot in from {
            push_lot(into, lot);
        }
    }
    fn peek(pool: &VecDeque<Lot>, amount: U256) -> U256 {
        let mut left = amount;
        let mut t = U256::ZERO;
        for &(a, tainted) in pool {
            if left.is_zero() {
                break;
            }
            let part = a.min(left);
            if tainted {
                t += part;
            }
            left -= part;
        }
        t
    }
    fn take(pool: &mut VecDeque<Lot>, amount: U256) -> Vec<Lot> {
        let mut left = amount;
        let mut out = Vec::new();
        while !left.is_zero() {
            let Some(front) = pool.front_mut() else {
                // Clamp: more leaves than we saw arrive; the missing part is assumed clean.
                out.push((left, false));
                break;
            };
            let part = front.0.min(left);
            out.push((part, front.1));
            front.0 -= part;
            left -= part;
            if front.0.is_zero() {
                pool.pop_front();
            }
        }
        out
    }
    fn held(pool: &VecDeque<Lot>) -> U256 {
        pool.iter()
            .filter(|l| l.1)
            .fold(U256::ZERO, |s, l| s.saturating_add(l.0))
    }
    fn peek_split(older: &VecDeque<Lot>, newer: &VecDeque<Lot>, amount: U256) -> U256 {
        let first = amount.min(lots_total(older));
        Self::peek(older, first).saturating_add(Self::peek(newer, amount - first))
    }
    fn take_split(older: &mut VecDeque<Lot>, newer: &mut VecDeque<Lot>, amount: U256) -> Vec<Lot> {
        // The older lots are at the front of the combined queue.
        let first = amount.min(lots_total(older));
        let mut out = Self::take(older, first);
        if amount > first {
            out.extend(Self::take(newer, amount - first));
        }
        out
    }
}

fn lots_total(q: &VecDeque<Lot>) -> U256 {
    q.iter().fold(U256::ZERO, |s, l| s.saturating_add(l.0))
}

/// An address's state under the time rule: what is available now, and what arrived in the current block
/// from transactions whose order relative to other transactions of that block is unknown.
///
/// Rule: funds that arrive in transaction `t` of block `b` can leave in a later position of `t`, or in any
/// later block; not in another transaction of block `b` (the store does not record transaction order inside
/// a block).
pub(crate) struct Pools<M: TaintModel> {
    avail: M::Pool,
    avail_route: Option<Route>,
    pending: Vec<(u32, M::Pool, Option<Route>)>,
    pending_block: u32,
    /// Index in `pending` of the transaction of the outflow being prepared.
    current: Option<usize>,
}

impl<M: TaintModel> Default for Pools<M> {
    fn default() -> Self {
        Pools {
            avail: M::Pool::default(),
            avail_route: None,
            pending: Vec::new(),
            pending_block: 0,
            current: None,
        }
    }
}

impl<M: TaintModel> Pools<M> {
    fn settle_block(&mut self, block: u32) {
        if !self.pending.is_empty() && self.pending_block != block {
            // Drained, not taken: the vector keeps its capacity for the next pending block.
            let Pools {
                avail,
                avail_route,
                pending,
                ..
            } = self;
            for (_, p, r) in pending.drain(..) {
                M::merge(avail, p);
                *avail_route = better(*avail_route, r);
            }
        }
    }

    /// Receives a flow in transaction `tx` of block `block`.
    pub(crate) fn inflow(&mut self, block: u32, tx: u32, f: M::Flow, route: Option<Route>) {
        self.settle_block(block);
        self.current = None;
        self.pending_block = block;
        match self.pending.iter_mut().find(|p| p.0 == tx) {
            Some(p) => {
                M::add(&mut p.1, f);
                p.2 = better(p.2, route);
            }
            None => {
                let mut pool = M::Pool::default();
                M::add(&mut pool, f);
                self.pending.push((tx, pool, route));
            }
        }
    }

    /// Whether value that arrived in the pending block waits apart from what is available (only then do
    /// the block and transaction of an outflow matter to [`Pools::prepare_out`]).
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Whether value is pending in `block` (then a transfer of that block must name its real transaction).
    pub(crate) fn pending_in(&self, block: u32) -> bool {
        !self.pending.is_empty() && self.pending_block == block
    }

    /// Whether a pending entry is named `tx`.
    pub(crate) fn has_tx(&self, tx: u32) -> bool {
        self.pending.iter().any(|p| p.0 == tx)
    }

    /// Renames the pending entry `from` (the engine names an entry before looking its transaction up).
    pub(crate) fn rename_tx(&mut self, from: u32, to: u32) {
        if let Some(p) = self.pending.iter_mut().find(|p| p.0 == from) {
            p.0 = to;
        }
    }

    /// Selects what an outflow in `tx` of `block` may draw on: what is available plus what arrived earlier
    /// in the same transaction. The latter is not merged into what is available: its remainder must stay
    /// out of reach of the block's other transactions (their order relative to `tx` is unknown).
    pub(crate) fn prepare_out(&mut self, block: u32, tx: u32) {
        self.settle_block(block);
        self.current = self.pending.iter().position(|p| p.0 == tx);
    }

    /// Taint an outflow would carry (after [`Pools::prepare_out`]).
    pub(crate) fn peek(&self, amount: U256) -> U256 {
        match self.current.and_then(|i| self.pending.get(i)) {
            Some((_, p, _)) => M::peek_split(&self.avail, p, amount),
            None => M::peek(&self.avail, amount),
        }
    }

    /// Sends an outflow (after [`Pools::prepare_out`]); returns the flow and the route its taint took.
    pub(crate) fn take(&mut self, amount: U256) -> (M::Flow, Option<Route>) {
        match self.current.and_then(|i| self.pending.get_mut(i)) {
            Some((_, p, r)) => {
                let route = better(self.avail_route, *r);
                (M::take_split(&mut self.avail, p, amount), route)
            }
            None => (M::take(&mut self.avail, amount), self.avail_route),
        }
    }

    /// The pools of an address whose history so far is clean and settled: `balance` available, nothing
    /// pending (a [`crate::trace::BalanceIndex`] checkpoint).
    pub(crate) fn restored(balance: U256) -> Self {
        let mut p = Self::default();
        M::add(&mut p.avail, M::clean(balance));
        p
    }

    /// All taint held, available or pending.
    pub(crate) fn held(&self) -> U256 {
        self.pending
            .iter()
            .fold(M::held(&self.avail), |s, p| s.saturating_add(M::held(&p.1)))
    }
}

impl Pools<Haircut> {
    /// The balance once what is pending settles (the state a [`crate::trace::BalanceIndex`] checkpoint
    /// keeps; taint is zero in a clean history).
    pub(crate) fn settled_balance(&self) -> U256 {
        self.pending
            .iter()
            .fold(self.avail.balance, |s, p| s.saturating_add(p.1.balance))
    }
}

impl Pools<Fifo> {
    /// The balance once what is pending settles (a clean history's lots are all clean).
    pub(crate) fn settled_balance(&self) -> U256 {
        self.pending
            .iter()
            .fold(lots_total(&self.avail), |s, p| s.saturating_add(lots_total(&p.1)))
    }
}
