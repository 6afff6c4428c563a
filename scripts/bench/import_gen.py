#!/usr/bin/env python3
"""Writes a synthetic but realistic ethereum-etl export (blocks, transactions, receipts,
token_transfers, traces CSV with ethereum-etl's real column names) for the import benchmark.

Shape per block (defaults): TXS_PER_BLOCK transactions; ~50% carry value; ~2% fail; ~1 token
transfer per transaction (ERC-20 `transfer` calls, batch transfers carry several); every transaction
has a top-level trace and ~1.5 child call traces, ~6% of which move value (a few delegatecalls and
staticcalls that never count). Addresses and tokens are drawn from skewed pools (a few very hot
addresses, a long tail), as on mainnet. Deterministic (seeded).

usage: import_gen.py OUT_DIR [BLOCKS] [TXS_PER_BLOCK]
"""
import os
import random
import sys

out = sys.argv[1]
blocks = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
per_block = int(sys.argv[3]) if len(sys.argv) > 3 else 140
os.makedirs(out, exist_ok=True)
rnd = random.Random(42)


def h(n):
    return "0x" + rnd.getrandbits(8 * n).to_bytes(n, "big").hex()


ADDRS = [h(20) for _ in range(300_000)]
TOKENS = [h(20) for _ in range(3_000)]


def addr():
    # Skewed: index ~ N * u^3 puts most picks on the first few thousand addresses.
    return ADDRS[int(len(ADDRS) * rnd.random() ** 3)]


def token():
    return TOKENS[int(len(TOKENS) * rnd.random() ** 4)]


def amount():
    r = rnd.random()
    if r < 0.05:
        return "0"
    if r < 0.6:
        return str(rnd.randrange(10**15, 10**20))  # 0.001 .. 100 ETH-like
    if r < 0.95:
        return str(rnd.randrange(1, 10**12))  # 6-decimal tokens
    return str(rnd.randrange(10**20, 10**30))


bf = open(os.path.join(out, "blocks.csv"), "w")
tf = open(os.path.join(out, "transactions.csv"), "w")
rf = open(os.path.join(out, "receipts.csv"), "w")
kf = open(os.path.join(out, "token_transfers.csv"), "w")
xf = open(os.path.join(out, "traces.csv"), "w")
bf.write("number,hash,parent_hash,nonce,sha3_uncles,logs_bloom,transactions_root,state_root,receipts_root,"
         "miner,difficulty,total_difficulty,size,extra_data,gas_limit,gas_used,timestamp,transaction_count,"
         "base_fee_per_gas,withdrawals_root,withdrawals\n")
tf.write("hash,nonce,block_hash,block_number,transaction_index,from_address,to_address,value,gas,gas_price,"
         "input,block_timestamp,max_fee_per_gas,max_priority_fee_per_gas,transaction_type\n")
rf.write("transaction_hash,transaction_index,block_hash,block_number,cumulative_gas_used,gas_used,"
         "contract_address,root,status,effective_gas_price\n")
kf.write("token_address,from_address,to_address,value,transaction_hash,log_index,block_number\n")
xf.write("block_number,transaction_hash,transaction_index,from_address,to_address,value,input,output,"
         "trace_type,call_type,reward_type,gas,gas_used,subtraces,trace_address,error,status,trace_id\n")

first = 17_000_000
ts0 = 1_681_000_000
parent = h(32)
counts = dict(txs=0, natives=0, tokens=0, internals=0, traces=0)
bloom = "0x" + "0" * 512
for b in range(first, first + blocks):
    bhash = h(32)
    ts = ts0 + (b - first) * 12
    base_fee = rnd.randrange(10**9, 60 * 10**9)
    bf.write(f"{b},{bhash},{parent},0x0000000000000000,{h(32)},{bloom},{h(32)},{h(32)},{h(32)},{addr()},0,,"
             f"{rnd.randrange(50_000, 200_000)},0x,30000000,{rnd.randrange(10**7, 3 * 10**7)},{ts},{per_block},"
             f"{base_fee},,\n")
    parent = bhash
    tx_lines, rc_lines, tk_lines, tr_lines = [], [], [], []
    log_index = 0
    cumulative = 0
    for i in range(per_block):
        txh = h(32)
        frm, to = addr(), addr()
        has_value = rnd.random() < 0.5
        value = amount() if has_value else "0"
        if value == "0" and has_value:
            value = "1"
        ok = rnd.random() >= 0.02
        n_tokens = 0 if has_value else (1 if rnd.random() < 0.9 else rnd.randrange(2, 12))
        inp = "0x" if n_tokens == 0 else "0xa9059cbb" + "0" * 24 + to[2:] + format(rnd.getrandbits(64), "064x")
        if n_tokens:
            to = token()
        gas_used = 21_000 if n_tokens == 0 else rnd.randrange(40_000, 250_000)
        cumulative += gas_used
        prio = rnd.randrange(10**8, 3 * 10**9)
        eff = base_fee + prio
        tx_lines.append(f"{txh},{rnd.randrange(0, 5000)},{bhash},{b},{i},{frm},{to},{value},{gas_used * 2},"
                        f"{eff},{inp},{ts},{eff + 10**9},{prio},2\n")
        rc_lines.append(f"{txh},{i},{bhash},{b},{cumulative},{gas_used},,,{1 if ok else 0},{eff}\n")
        counts["txs"] += 1
        if ok and value != "0":
            counts["natives"] += 1
        for _ in range(n_tokens):
            tk_lines.append(f"{token() if n_tokens > 1 else to},{addr()},{addr()},{amount()},{txh},{log_index},{b}\n")
            log_index += 1
            if ok:
                counts["tokens"] += 1
        # Traces: the top-level call, then children (trace ids as ethereum-etl writes them).
        r = rnd.random()
        n_children = 0 if n_tokens == 0 and r < 0.6 else (1 if r < 0.8 else rnd.randrange(2, 7))
        status = 1 if ok else 0
        err = "" if ok else "Reverted"
        tr_lines.append(f"{b},{txh},{i},{frm},{to},{value},{inp},0x,call,call,,{gas_used * 2},{gas_used},"
                        f"{n_children},,{err},{status},call_{txh}_\n")
        counts["traces"] += 1
        for c in range(n_children):
            cr = rnd.random()
            call_type = "call" if cr < 0.7 else ("delegatecall" if cr < 0.85 else "staticcall")
            moves = call_type == "call" and rnd.random() < 0.12
            cvalue = amount() if moves else "0"
            if moves and cvalue == "0":
                cvalue = "7"
            cfrom, cto = to, addr()
            tr_lines.append(f"{b},{txh},{i},{cfrom},{cto},{cvalue},0x70a08231,0x,call,{call_type},,50000,1234,0,"
                            f"{c},{err},{status},call_{txh}_{c}\n")
            counts["traces"] += 1
            if ok and cvalue != "0":
                counts["internals"] += 1
    tf.write("".join(tx_lines))
    rf.write("".join(rc_lines))
    kf.write("".join(tk_lines))
    xf.write("".join(tr_lines))
for f in (bf, tf, rf, kf, xf):
    f.close()
total = counts["natives"] + counts["tokens"] + counts["internals"]
print(f"blocks={blocks} txs={counts['txs']} traces={counts['traces']} natives={counts['natives']} "
      f"tokens={counts['tokens']} internals={counts['internals']} transfers={total}")
