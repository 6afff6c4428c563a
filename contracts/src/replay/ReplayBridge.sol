// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

import "./ReplayToken.sol";

/// One side of a relayed bridge, deployed on every chain of the replay world. `deposit` locks value here
/// and emits `BridgeDeposit`; on the destination chain the relayer calls `release` with the same id,
/// which pays out and emits `BridgeRelease`. Tokens this contract mints (a ReplayToken whose minter is
/// this bridge) are minted on release (lock-and-mint); other tokens and the native coin are paid from the
/// bridge's own balance (liquidity provided by the operator). Events exactly as docs/bridges.md requires.
/// Not here: proofs, messaging, burning on the way back, fee accounting beyond "amount paid".
contract ReplayBridge {
    address public immutable relayer;
    uint256 public nonce;
    mapping(bytes32 => bool) public released;

    event BridgeDeposit(
        bytes32 indexed id,
        address indexed token,
        address indexed from,
        address recipient,
        uint256 amount,
        uint256 dstChainId
    );
    event BridgeRelease(
        bytes32 indexed id, address indexed token, address indexed recipient, uint256 amount, uint256 srcChainId
    );

    constructor(address relayer_) {
        relayer = relayer_;
    }

    /// Liquidity for native releases.
    receive() external payable {}

    function deposit(address token, uint256 amount, address recipient, uint256 dstChainId)
        external
        payable
        returns (bytes32 id)
    {
        require(amount > 0, "zero amount");
        require(dstChainId != block.chainid, "same chain");
        if (token == address(0)) {
            require(msg.value == amount, "value != amount");
        } else {
            require(msg.value == 0, "value with a token");
            require(ReplayToken(token).transferFrom(msg.sender, address(this), amount), "transferFrom");
        }
        id = keccak256(abi.encode(block.chainid, address(this), nonce));
        nonce += 1;
        emit BridgeDeposit(id, token, msg.sender, recipient, amount, dstChainId);
    }

    function release(bytes32 id, address token, address recipient, uint256 amount, uint256 srcChainId) external {
        require(msg.sender == relayer, "not the relayer");
        require(!released[id], "already released");
        released[id] = true;
        if (token == address(0)) {
            (bool ok,) = recipient.call{value: amount}("");
            require(ok, "native transfer failed");
        } else if (ReplayToken(token).minter() == address(this)) {
            ReplayToken(token).mint(recipient, amount);
        } else {
            require(ReplayToken(token).transfer(recipient, amount), "transfer");
        }
        emit BridgeRelease(id, token, recipient, amount, srcChainId);
    }
}
