// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

/// Calls that move value internally and then revert, so the moved value never happened.
contract Reverter {
    event Kept(uint256 value);

    /// Sends the value on to `to`, then reverts the whole transaction: nothing of it may be recorded.
    function sendThenRevert(address payable to) external payable {
        (bool ok, ) = to.call{value: msg.value}("");
        require(ok, "send failed");
        revert("reverted on purpose");
    }

    /// The transaction succeeds and keeps the value, but its inner call (which sent the value on to `to`)
    /// reverts: only the outer native transfer (sender -> Reverter) may be recorded.
    function keepAfterInnerRevert(address payable to) external payable {
        try this.sendThenRevert{value: msg.value}(to) {
            revert("inner call unexpectedly succeeded");
        } catch {
            emit Kept(msg.value);
        }
    }
}
