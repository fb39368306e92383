// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {ERC20Pausable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Pausable.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/// @title LoyaltyToken
/// @notice A brand's (or the coalition's) ERC-20 loyalty token: batched mints with an on-chain idempotency
///         guard per batch, gasless redemptions signed by the holder (EIP-712, EOAs and ERC-1271 wallets),
///         EIP-2612 permit, pause and burn.
/// @dev Balances and total supply live in this contract's own storage instead of ERC20's private fields so
///      that `batchMint` can credit holders in an assembly loop (one SLOAD/SSTORE and one Transfer log per
///      entry, one supply write per batch). Every other path (transfer, burn, permit spending, pause) still
///      goes through OpenZeppelin's code, which funnels all balance changes into the `_update` override.
contract LoyaltyToken is ERC20, ERC20Burnable, ERC20Pausable, ERC20Permit, AccessControl {
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    bytes32 public constant REDEEM_TYPEHASH =
        keccak256("Redeem(address holder,uint256 amount,bytes32 redemptionId,bytes32 offerRef,uint256 deadline)");

    // keccak256("Transfer(address,address,uint256)")
    uint256 private constant _TRANSFER_TOPIC = 0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef;
    uint256 private constant _AMOUNT_MASK = 0xffffffffffffffffffffffff; // low 96 bits of an entry

    uint8 private immutable _decimals;
    uint256 private immutable _cap; // 0 = uncapped

    mapping(address account => uint256) private _balanceOf;
    uint256 private _supply;

    /// @notice Manifest Merkle root stored by each minted batch; non-zero means the batch id has been minted.
    mapping(bytes32 batchId => bytes32 manifestRoot) public batchManifestRoot;
    // NOTE: keyed by holder so nobody can burn a pending relayed redemption's id with a redeem() of their own.
    mapping(address holder => mapping(bytes32 redemptionId => bool)) private _redeemed;

    event BatchMinted(bytes32 indexed batchId, bytes32 manifestRoot, uint256 recipients, uint256 total);
    event Redeemed(
        address indexed token, address indexed holder, uint256 amount, bytes32 indexed redemptionId, bytes32 offerRef
    );

    error ZeroAdmin();
    error MalformedEntries(uint256 length);
    error ZeroAddressRecipient(uint256 index);
    error ZeroAmount(uint256 index);
    error ZeroManifestRoot();
    error BatchAlreadyMinted(bytes32 batchId);
    error ERC20ExceededCap(uint256 increasedSupply, uint256 cap);
    error RedemptionExpired(uint256 deadline);
    error RedemptionAlreadyUsed(bytes32 redemptionId);
    error InvalidRedemptionSignature();

    /// @param name_ Token name; also the EIP-712 domain name of permit and redeemWithSig.
    /// @param symbol_ Token symbol.
    /// @param decimals_ Decimals reported by `decimals()`.
    /// @param cap_ Maximum total supply in base units; 0 means uncapped.
    /// @param admin Receives DEFAULT_ADMIN_ROLE and PAUSER_ROLE; must not be zero.
    /// @param minters Each receives MINTER_ROLE (the backend's hot wallets).
    constructor(
        string memory name_,
        string memory symbol_,
        uint8 decimals_,
        uint256 cap_,
        address admin,
        address[] memory minters
    ) ERC20(name_, symbol_) ERC20Permit(name_) {
        if (admin == address(0)) revert ZeroAdmin();
        _decimals = decimals_;
        _cap = cap_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
        for (uint256 i = 0; i < minters.length; ++i) {
            _grantRole(MINTER_ROLE, minters[i]);
        }
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc ERC20
    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    /// @notice Maximum total supply in base units; 0 means uncapped.
    function cap() external view returns (uint256) {
        return _cap;
    }

    /// @inheritdoc ERC20
    function totalSupply() public view override returns (uint256) {
        return _supply;
    }

    /// @inheritdoc ERC20
    function balanceOf(address account) public view override returns (uint256) {
        return _balanceOf[account];
    }

    /// @notice Whether `holder` has used `redemptionId` in `redeem` or `redeemWithSig`.
    function isRedeemed(address holder, bytes32 redemptionId) external view returns (bool) {
        return _redeemed[holder][redemptionId];
    }

    /// @notice Check that `leaf` is part of the manifest committed by `batchId` (OpenZeppelin sorted-pair tree).
    /// @dev Lets an auditor prove inclusion on chain; costs nothing at mint time. False for unknown batches.
    function verifyManifestLeaf(bytes32 batchId, bytes32 leaf, bytes32[] calldata proof) external view returns (bool) {
        bytes32 root = batchManifestRoot[batchId];
        return root != bytes32(0) && MerkleProof.verifyCalldata(proof, root, leaf);
    }

    // ---------------------------------------------------------------- admin

    /// @notice Stop all transfers, mints, burns and redemptions (PAUSER_ROLE).
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resume after `pause` (PAUSER_ROLE).
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ---------------------------------------------------------------- minting

    /// @notice Mint `amount` to `to` in its own transaction (MINTER_ROLE); the per-action baseline.
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }

    /// @notice Credit many holders in one transaction, once per `batchId` (MINTER_ROLE).
    /// @dev `entries` is n × 32 bytes; each word is `(uint256(uint160(to)) << 96) | uint96(amount)`. Emits one
    ///      `Transfer(0, to, amount)` per entry (so indexers see ordinary mints) and one `BatchMinted`.
    ///      A replayed `batchId` REVERTS with `BatchAlreadyMinted` rather than succeeding as a no-op: a sender
    ///      that re-sends (after a crash, a dropped receipt or a replacement race) must learn that its batch
    ///      already landed and reconcile against `batchManifestRoot(batchId)`; a silent success would hide the
    ///      duplicate send and let two different manifests claim the same id.
    /// @param batchId Idempotency key of the batch, chosen off chain.
    /// @param manifestRoot Merkle root of the batch manifest (the actions behind each credit); must be non-zero.
    /// @param entries Packed `address ‖ uint96 amount` words.
    function batchMint(bytes32 batchId, bytes32 manifestRoot, bytes calldata entries)
        external
        onlyRole(MINTER_ROLE)
        whenNotPaused
    {
        uint256 length = entries.length;
        if (length == 0 || length % 32 != 0) revert MalformedEntries(length);
        if (manifestRoot == bytes32(0)) revert ZeroManifestRoot();
        if (batchManifestRoot[batchId] != bytes32(0)) revert BatchAlreadyMinted(batchId);
        batchManifestRoot[batchId] = manifestRoot;
        _credit(batchId, manifestRoot, entries);
    }

    /// @notice Credit a batch whose idempotency guard and manifest commitment live with the caller (MINTER_ROLE):
    ///         the path of the shared `LoyaltyMinter`, which guards each run once for every token in it.
    /// @dev Same entries, checks and events as `batchMint` (so this token's own log still carries every batch),
    ///      but no `batchManifestRoot` slot and no replay guard here: that 22,100-gas slot is what a one-line
    ///      batch cannot afford. A MINTER_ROLE holder could already mint unguarded through `mint`, so this path
    ///      grants it no new power. `verifyManifestLeaf` does not know these batches; their root is in the
    ///      `BatchMinted` event and under the minter's run root.
    function creditBatch(bytes32 batchId, bytes32 manifestRoot, bytes calldata entries)
        external
        onlyRole(MINTER_ROLE)
        whenNotPaused
    {
        uint256 length = entries.length;
        if (length == 0 || length % 32 != 0) revert MalformedEntries(length);
        if (manifestRoot == bytes32(0)) revert ZeroManifestRoot();
        _credit(batchId, manifestRoot, entries);
    }

    /// @dev Credit every entry (well-formed length checked by the caller), update supply within the cap once and
    ///      emit `BatchMinted`.
    function _credit(bytes32 batchId, bytes32 manifestRoot, bytes calldata entries) private {
        uint256 length = entries.length;
        uint256 total;
        uint256 failedAt; // 1 + index of the first invalid entry, 0 if none
        assembly ("memory-safe") {
            // NOTE: balances slot = keccak256(account ‖ _balanceOf.slot); the scratch space 0x00-0x3f holds the
            // key while hashing and then the log data. Amounts are < 2^96, so neither the running total nor a
            // balance can overflow before the single checked supply update below.
            mstore(0x20, _balanceOf.slot)
            let start := entries.offset
            let end := add(start, length)
            for { let ptr := start } lt(ptr, end) { ptr := add(ptr, 0x20) } {
                let word := calldataload(ptr)
                let to := shr(96, word)
                let amount := and(word, _AMOUNT_MASK)
                // to < 2^160 and amount < 2^96: the product is zero iff one of them is zero.
                if iszero(mul(to, amount)) {
                    failedAt := add(shr(5, sub(ptr, start)), 1)
                    break
                }
                mstore(0x00, to)
                let slot := keccak256(0x00, 0x40)
                sstore(slot, add(sload(slot), amount))
                total := add(total, amount)
                mstore(0x00, amount)
                log3(0x00, 0x20, _TRANSFER_TOPIC, 0, to)
            }
        }
        if (failedAt != 0) {
            uint256 index = failedAt - 1;
            if (bytes20(entries[index * 32:index * 32 + 20]) == bytes20(0)) revert ZeroAddressRecipient(index);
            revert ZeroAmount(index);
        }
        uint256 newSupply = _supply + total;
        if (_cap != 0 && newSupply > _cap) revert ERC20ExceededCap(newSupply, _cap);
        _supply = newSupply;
        emit BatchMinted(batchId, manifestRoot, length / 32, total);
    }

    // ---------------------------------------------------------------- redemption

    /// @notice Burn `amount` of the caller's tokens for an offer; each holder can use a `redemptionId` once.
    function redeem(uint256 amount, bytes32 redemptionId, bytes32 offerRef) external {
        _redeem(msg.sender, amount, redemptionId, offerRef);
    }

    /// @notice Burn `amount` of `holder`'s tokens with the holder's EIP-712 `Redeem` signature; anyone may relay
    ///         (the relayer pays the gas, so the holder needs none).
    /// @dev Same domain as permit (token name, version "1", chain id, this contract). EOAs and ERC-1271 wallets
    ///      are accepted through SignatureChecker. Replays are stopped by `redemptionId`, not by a nonce, so
    ///      independent redemptions can be signed and relayed in any order.
    function redeemWithSig(
        address holder,
        uint256 amount,
        bytes32 redemptionId,
        bytes32 offerRef,
        uint256 deadline,
        bytes calldata signature
    ) external {
        if (block.timestamp > deadline) revert RedemptionExpired(deadline);
        bytes32 digest = _hashTypedDataV4(
            keccak256(abi.encode(REDEEM_TYPEHASH, holder, amount, redemptionId, offerRef, deadline))
        );
        if (!SignatureChecker.isValidSignatureNow(holder, digest, signature)) revert InvalidRedemptionSignature();
        _redeem(holder, amount, redemptionId, offerRef);
    }

    function _redeem(address holder, uint256 amount, bytes32 redemptionId, bytes32 offerRef) private {
        if (_redeemed[holder][redemptionId]) revert RedemptionAlreadyUsed(redemptionId);
        _redeemed[holder][redemptionId] = true;
        _burn(holder, amount);
        emit Redeemed(address(this), holder, amount, redemptionId, offerRef);
    }

    // ---------------------------------------------------------------- ERC20 plumbing

    /// @dev The single place where balances and supply change outside `_credit` (batchMint, creditBatch); keeps
    ///      OZ's errors and the pause check of ERC20Pausable, and enforces the cap on mints.
    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Pausable) {
        _requireNotPaused();
        if (from == address(0)) {
            uint256 newSupply = _supply + value; // checked: supply bounds every balance
            if (_cap != 0 && newSupply > _cap) revert ERC20ExceededCap(newSupply, _cap);
            _supply = newSupply;
        } else {
            uint256 fromBalance = _balanceOf[from];
            if (fromBalance < value) revert ERC20InsufficientBalance(from, fromBalance, value);
            unchecked {
                _balanceOf[from] = fromBalance - value;
            }
        }
        if (to == address(0)) {
            unchecked {
                _supply -= value;
            }
        } else {
            unchecked {
                _balanceOf[to] += value;
            }
        }
        emit Transfer(from, to, value);
    }
}
