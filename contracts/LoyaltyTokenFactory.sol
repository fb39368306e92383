// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {LoyaltyToken} from "./LoyaltyToken.sol";

/// @title LoyaltyTokenFactory
/// @notice Deploys one LoyaltyToken per brand (and the coalition token, brandId = keccak256("coalition")) and
///         keeps the brandId → token registry that the backend and auditors read.
/// @dev Tokens are full contracts, not proxies: the batch-mint hot path stays free of a DELEGATECALL and of
///      proxy storage reads.
contract LoyaltyTokenFactory is AccessControl {
    bytes32 public constant CREATOR_ROLE = keccak256("CREATOR_ROLE");

    mapping(bytes32 brandId => address token) private _tokenOf;
    address[] private _tokens;

    /// @notice The shared LoyaltyMinter that every token created from now on grants MINTER_ROLE (0: none).
    address public sharedMinter;

    event TokenCreated(
        bytes32 indexed brandId,
        address indexed token,
        string name,
        string symbol,
        uint8 decimals,
        uint256 cap,
        address admin
    );
    event SharedMinterSet(address indexed minter);

    error ZeroAdmin();
    error ZeroBrandId();
    error BrandAlreadyHasToken(bytes32 brandId, address token);

    /// @param admin Receives DEFAULT_ADMIN_ROLE and CREATOR_ROLE.
    constructor(address admin) {
        if (admin == address(0)) revert ZeroAdmin();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(CREATOR_ROLE, admin);
    }

    /// @notice Set the shared minter granted MINTER_ROLE by every later `createToken` (DEFAULT_ADMIN_ROLE); 0 stops
    ///         the grant. Tokens created before keep their roles (their admin grants or revokes them).
    function setSharedMinter(address minter) external onlyRole(DEFAULT_ADMIN_ROLE) {
        sharedMinter = minter;
        emit SharedMinterSet(minter);
    }

    /// @notice Deploy the token of `brandId` (CREATOR_ROLE); one token per brand.
    /// @param brandId Off-chain brand id (keccak256 of the brand slug); must be non-zero.
    /// @param cap Maximum supply in base units; 0 means uncapped.
    /// @param admin Token admin (DEFAULT_ADMIN_ROLE, PAUSER_ROLE).
    /// @param minters Accounts granted MINTER_ROLE on the token (besides `sharedMinter`, if set).
    /// @return token Address of the new token.
    function createToken(
        bytes32 brandId,
        string calldata name,
        string calldata symbol,
        uint8 decimals,
        uint256 cap,
        address admin,
        address[] calldata minters
    ) external onlyRole(CREATOR_ROLE) returns (address token) {
        if (brandId == bytes32(0)) revert ZeroBrandId();
        address existing = _tokenOf[brandId];
        if (existing != address(0)) revert BrandAlreadyHasToken(brandId, existing);
        token = address(new LoyaltyToken(name, symbol, decimals, cap, admin, _withSharedMinter(minters)));
        _tokenOf[brandId] = token;
        _tokens.push(token);
        emit TokenCreated(brandId, token, name, symbol, decimals, cap, admin);
    }

    function _withSharedMinter(address[] calldata minters) private view returns (address[] memory all) {
        address shared = sharedMinter;
        if (shared == address(0)) return minters;
        all = new address[](minters.length + 1);
        for (uint256 i = 0; i < minters.length; ++i) {
            all[i] = minters[i];
        }
        all[minters.length] = shared;
    }

    /// @notice Token of `brandId`, or the zero address if none.
    function tokenOf(bytes32 brandId) external view returns (address) {
        return _tokenOf[brandId];
    }

    /// @notice Number of tokens created.
    function tokenCount() external view returns (uint256) {
        return _tokens.length;
    }

    /// @notice The `index`-th token created (0-based, creation order).
    function tokenAt(uint256 index) external view returns (address) {
        return _tokens[index];
    }
}
