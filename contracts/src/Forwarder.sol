// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

/// Forwards every ETH it receives to a fixed target through an internal call, so one transaction carries
/// a native transfer (sender -> Forwarder) and an internal one (Forwarder -> target).
contract Forwarder {
    address payable public immutable target;

    constructor(address payable target_) {
        target = target_;
    }

    receive() external payable {
        (bool ok, ) = target.call{value: msg.value}("");
        require(ok, "forward failed");
    }

    /// Forwards the value to `to` instead of the fixed target.
    function forwardTo(address payable to) external payable {
        (bool ok, ) = to.call{value: msg.value}("");
        require(ok, "forward failed");
    }
}
