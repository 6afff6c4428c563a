// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

/// A BEHAVIOURAL STAND-IN for a Tornado Cash pool: fixed-denomination native deposits with a commitment,
/// withdrawals to any address with a relayer fee, and the exact `Deposit` / `Withdrawal` events of
/// tornado-core `Tornado.sol`. There is no Merkle tree and no zero-knowledge proof: `withdraw` only
/// checks that the nullifier is new and that withdrawals never outnumber deposits. On chain the traffic
/// looks like Tornado's (deposit events, withdrawals paying fresh addresses); it hides nothing.
contract ReplayMixer {
    uint256 public immutable denomination;
    uint32 public nextIndex;
    uint32 public withdrawals;
    mapping(bytes32 => bool) public commitments;
    mapping(bytes32 => bool) public nullifierHashes;

    event Deposit(bytes32 indexed commitment, uint32 leafIndex, uint256 timestamp);
    event Withdrawal(address to, bytes32 nullifierHash, address indexed relayer, uint256 fee);

    constructor(uint256 denomination_) {
        require(denomination_ > 0, "zero denomination");
        denomination = denomination_;
    }

    function deposit(bytes32 commitment) external payable {
        require(msg.value == denomination, "value != denomination");
        require(!commitments[commitment], "commitment already submitted");
        commitments[commitment] = true;
        uint32 index = nextIndex;
        nextIndex = index + 1;
        emit Deposit(commitment, index, block.timestamp);
    }

    function withdraw(address payable to, bytes32 nullifierHash, address payable relayer, uint256 fee) external {
        require(fee <= denomination, "fee exceeds denomination");
        require(!nullifierHashes[nullifierHash], "note already spent");
        require(withdrawals < nextIndex, "no unspent deposit");
        nullifierHashes[nullifierHash] = true;
        withdrawals += 1;
        (bool ok,) = to.call{value: denomination - fee}("");
        require(ok, "payment to recipient failed");
        if (fee > 0) {
            (bool paid,) = relayer.call{value: fee}("");
            require(paid, "payment to relayer failed");
        }
        emit Withdrawal(to, nullifierHash, relayer, fee);
    }
}
