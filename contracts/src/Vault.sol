// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.24;

/// A contract that is created with value: its creation moves ETH from the creator to the new address.
contract Vault {
    address public immutable owner;

    constructor() payable {
        owner = msg.sender;
    }
}

/// Creates Vaults with value from inside a call: an internal transfer (VaultFactory -> new Vault).
contract VaultFactory {
    event Created(address vault, uint256 value);

    function create() external payable returns (address vault) {
        vault = address(new Vault{value: msg.value}());
        emit Created(vault, msg.value);
    }
}
