// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {LoyaltyToken} from "./LoyaltyToken.sol";

/// @title LoyaltyMinter
/// @notice Mints several tokens' batches in one transaction, so small brands share the fixed cost of a
///         transaction; holds MINTER_ROLE on every token the factory creates (one grant serves every hot wallet).
/// @dev Fixed costs are paid once per run, not per token: one idempotency bit (runs are numbered 0, 1, 2, ... by
///      the backend, 256 per storage word) instead of a 22,100-gas root slot per batch, and one `RunMinted` event
///      carrying the run root, the Merkle root (OpenZeppelin sorted pairs) over the batches' manifest roots.
///      Each token still emits its own `Transfer`s and `BatchMinted(batchId, manifestRoot, ...)`, so a token's
///      log alone proves its batches. All or nothing: a batch that reverts (paused token, cap, bad entry) reverts
///      the whole run, so a run is either entirely minted under its id or not at all and can be rebuilt without
///      the failing token; the backend checks pause and cap before building (TokenViews.mint_status).
contract LoyaltyMinter is AccessControl {
    /// @notice Held by the relayer's hot wallets: who may send runs.
    bytes32 public constant RELAYER_ROLE = keccak256("RELAYER_ROLE");

    /// @notice One token's batch in a run: the arguments of `LoyaltyToken.creditBatch`.
    struct TokenBatch {
        address token;
        bytes32 batchId;
        bytes32 manifestRoot;
        bytes entries;
    }

    mapping(uint256 word => uint256 bits) private _runsMinted;

    event RunMinted(uint256 indexed runId, bytes32 runRoot, uint256 batches);

    error ZeroAdmin();
    error NoBatches();
    error ZeroRunRoot();
    error RunAlreadyMinted(uint256 runId);

    /// @param admin Receives DEFAULT_ADMIN_ROLE (grants and revokes RELAYER_ROLE); must not be zero.
    /// @param relayers Each receives RELAYER_ROLE (the backend's hot wallets).
    constructor(address admin, address[] memory relayers) {
        if (admin == address(0)) revert ZeroAdmin();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        for (uint256 i = 0; i < relayers.length; ++i) {
            _grantRole(RELAYER_ROLE, relayers[i]);
        }
    }

    /// @notice Whether run `runId` has been minted.
    function isRunMinted(uint256 runId) external view returns (bool) {
        return _runsMinted[runId >> 8] & (1 << (runId & 0xff)) != 0;
    }

    /// @notice Credit every batch of run `runId` on its token, once per run id (RELAYER_ROLE).
    /// @dev A replayed `runId` REVERTS with `RunAlreadyMinted` (as `batchMint` does for a batch id): a re-sender
    ///      must learn that the run landed. Each token checks MINTER_ROLE (this contract), pause and cap itself.
    /// @param runId Sequential idempotency key of the run, chosen off chain.
    /// @param runRoot Merkle root over the batches' manifest roots (leaves used as they are); must be non-zero.
    /// @param batches One entry per token batch; a token may appear more than once.
    function mintMany(uint256 runId, bytes32 runRoot, TokenBatch[] calldata batches)
        external
        onlyRole(RELAYER_ROLE)
    {
        uint256 count = batches.length;
        if (count == 0) revert NoBatches();
        if (runRoot == bytes32(0)) revert ZeroRunRoot();
        uint256 word = runId >> 8;
        uint256 bit = 1 << (runId & 0xff);
        uint256 bits = _runsMinted[word];
        if (bits & bit != 0) revert RunAlreadyMinted(runId);
        _runsMinted[word] = bits | bit;
        for (uint256 i = 0; i < count; ++i) {
            TokenBatch calldata batch = batches[i];
            LoyaltyToken(batch.token).creditBatch(batch.batchId, batch.manifestRoot, batch.entries);
        }
        emit RunMinted(runId, runRoot, count);
    }
}
