// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice Gas baseline only: the same packed entries as LoyaltyToken.batchMint, credited with OZ `_mint` in a loop.
contract OZMintLoopToken is ERC20 {
    constructor() ERC20("Baseline", "BASE") {}

    function batchMint(bytes calldata entries) external {
        for (uint256 offset = 0; offset < entries.length; offset += 32) {
            uint256 word = uint256(bytes32(entries[offset:offset + 32]));
            _mint(address(uint160(word >> 96)), word & type(uint96).max);
        }
    }
}
