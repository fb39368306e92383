"""LoyaltyToken behaviour: roles, pause, batch minting and its idempotency guard, cap, permit, redemptions."""

from __future__ import annotations

import pytest
from eth_abi.packed import encode_packed
from eth_utils import keccak
from web3.logs import DISCARD

from tests.contracts.conftest import TOKEN_CAP, Env
from tests.contracts.kit import (
    deploy,
    encode_entries,
    expect_revert,
    merkle_root_and_proofs,
    send_signed,
    sign_permit,
    sign_redeem,
)

MINTER_ROLE = keccak(text="MINTER_ROLE")
PAUSER_ROLE = keccak(text="PAUSER_ROLE")
ROOT = keccak(text="manifest")
ZERO = "0x" + "00" * 20
E18 = 10**18


def batch_id(label: str) -> bytes:
    return keccak(text=f"batch:{label}")


def test_views_and_roles_after_construction(env: Env) -> None:
    token, capped = env.token, env.capped
    assert (token.functions.name().call(), token.functions.symbol().call()) == ("Acme Points", "ACME")
    assert token.functions.decimals().call() == 18
    assert token.functions.cap().call() == 0
    assert capped.functions.decimals().call() == 0
    assert capped.functions.cap().call() == TOKEN_CAP
    assert token.functions.MINTER_ROLE().call() == MINTER_ROLE
    assert token.functions.PAUSER_ROLE().call() == PAUSER_ROLE
    assert token.functions.hasRole(MINTER_ROLE, env.minter).call()
    assert token.functions.hasRole(PAUSER_ROLE, env.admin).call()
    assert token.functions.hasRole(b"\x00" * 32, env.admin).call()
    assert not token.functions.hasRole(MINTER_ROLE, env.admin).call()


def test_constructor_rejects_zero_admin(env: Env) -> None:
    with expect_revert(env.token, "ZeroAdmin"):
        deploy(env.w3, "LoyaltyToken", env.admin, "X", "X", 18, 0, ZERO, [])


def test_non_minter_cannot_mint_or_batch_mint(env: Env) -> None:
    entries = encode_entries([(env.holder, 5)])
    with expect_revert(env.token, "AccessControlUnauthorizedAccount", env.stranger, MINTER_ROLE):
        env.tx(env.token.functions.mint(env.holder, 5), env.stranger)
    with expect_revert(env.token, "AccessControlUnauthorizedAccount", env.stranger, MINTER_ROLE):
        env.tx(env.token.functions.batchMint(batch_id("a"), ROOT, entries), env.stranger)
    assert env.token.functions.balanceOf(env.holder).call() == 0


def test_admin_can_grant_minter_role(env: Env) -> None:
    env.tx(env.token.functions.grantRole(MINTER_ROLE, env.stranger), env.admin)
    env.tx(env.token.functions.batchMint(batch_id("a"), ROOT, encode_entries([(env.holder, 5)])), env.stranger)
    assert env.token.functions.balanceOf(env.holder).call() == 5


def test_pause_blocks_minting_and_transfers_until_unpaused(env: Env) -> None:
    token = env.token
    env.tx(token.functions.mint(env.minter, 10))
    with expect_revert(token, "AccessControlUnauthorizedAccount", env.stranger, PAUSER_ROLE):
        env.tx(token.functions.pause(), env.stranger)
    env.tx(token.functions.pause(), env.admin)
    with expect_revert(token, "EnforcedPause"):
        env.tx(token.functions.batchMint(batch_id("p"), ROOT, encode_entries([(env.holder, 1)])))
    with expect_revert(token, "EnforcedPause"):
        env.tx(token.functions.transfer(env.holder, 1))
    with expect_revert(token, "EnforcedPause"):
        env.tx(token.functions.mint(env.holder, 1))
    env.tx(token.functions.unpause(), env.admin)
    env.tx(token.functions.transfer(env.holder, 4))
    env.tx(token.functions.batchMint(batch_id("p"), ROOT, encode_entries([(env.holder, 1)])))
    assert token.functions.balanceOf(env.holder).call() == 5


def test_batch_mint_credits_and_emits_one_transfer_per_entry(env: Env) -> None:
    token = env.token
    credits = [(env.holder, 3 * E18), (env.other, 7), (env.holder, 2**96 - 1)]
    receipt = env.tx(token.functions.batchMint(batch_id("e"), ROOT, encode_entries(credits)))
    transfers = token.events.Transfer().process_receipt(receipt, errors=DISCARD)
    assert [(t["args"]["from"], t["args"]["to"], t["args"]["value"]) for t in transfers] == [
        (ZERO, to, amount) for to, amount in credits
    ]
    (batch,) = token.events.BatchMinted().process_receipt(receipt, errors=DISCARD)
    total = sum(amount for _, amount in credits)
    assert dict(batch["args"]) == {"batchId": batch_id("e"), "manifestRoot": ROOT, "recipients": 3, "total": total}
    assert batch["logIndex"] > transfers[-1]["logIndex"]
    assert token.functions.balanceOf(env.holder).call() == 3 * E18 + 2**96 - 1
    assert token.functions.balanceOf(env.other).call() == 7
    assert token.functions.totalSupply().call() == total
    assert token.functions.batchManifestRoot(batch_id("e")).call() == ROOT


def test_replayed_batch_id_reverts_and_leaves_balances_unchanged(env: Env) -> None:
    token = env.token
    entries = encode_entries([(env.holder, 10)])
    env.tx(token.functions.batchMint(batch_id("r"), ROOT, entries))
    other_root = keccak(text="other manifest")
    with expect_revert(token, "BatchAlreadyMinted", batch_id("r")):
        env.tx(token.functions.batchMint(batch_id("r"), other_root, entries))
    assert token.functions.balanceOf(env.holder).call() == 10
    assert token.functions.totalSupply().call() == 10
    assert token.functions.batchManifestRoot(batch_id("r")).call() == ROOT


@pytest.mark.parametrize("length", [0, 31, 33, 65])
def test_malformed_entries_length_reverts(env: Env, length: int) -> None:
    with expect_revert(env.token, "MalformedEntries", length):
        env.tx(env.token.functions.batchMint(batch_id("m"), ROOT, b"\x01" * length))


def test_zero_recipient_and_zero_amount_report_their_index(env: Env) -> None:
    good = [(env.holder, 1), (env.other, 2)]
    with expect_revert(env.token, "ZeroAddressRecipient", 2):
        env.tx(env.token.functions.batchMint(batch_id("z"), ROOT, encode_entries([*good, (ZERO, 5)])))
    with expect_revert(env.token, "ZeroAmount", 1):
        env.tx(env.token.functions.batchMint(batch_id("z"), ROOT, encode_entries([good[0], (env.other, 0)])))
    with expect_revert(env.token, "ZeroManifestRoot"):
        env.tx(env.token.functions.batchMint(batch_id("z"), b"\x00" * 32, encode_entries(good)))
    assert env.token.functions.batchManifestRoot(batch_id("z")).call() == b"\x00" * 32


def test_cap_is_enforced_for_batch_and_single_mints(env: Env) -> None:
    capped = env.capped
    env.tx(capped.functions.batchMint(batch_id("c1"), ROOT, encode_entries([(env.holder, TOKEN_CAP - 10)])))
    with expect_revert(capped, "ERC20ExceededCap", TOKEN_CAP + 1, TOKEN_CAP):
        env.tx(capped.functions.batchMint(batch_id("c2"), ROOT, encode_entries([(env.holder, 5), (env.other, 6)])))
    with expect_revert(capped, "ERC20ExceededCap", TOKEN_CAP + 1, TOKEN_CAP):
        env.tx(capped.functions.mint(env.other, 11))
    env.tx(capped.functions.batchMint(batch_id("c3"), ROOT, encode_entries([(env.holder, 4), (env.other, 6)])))
    assert capped.functions.totalSupply().call() == TOKEN_CAP
    assert capped.functions.batchManifestRoot(batch_id("c2")).call() == b"\x00" * 32


def test_transfer_burn_and_errors_go_through_own_balances(env: Env) -> None:
    token = env.token
    env.tx(token.functions.batchMint(batch_id("t"), ROOT, encode_entries([(env.minter, 100)])))
    env.tx(token.functions.transfer(env.holder, 30))
    env.tx(token.functions.burn(20))
    assert token.functions.balanceOf(env.minter).call() == 50
    assert token.functions.balanceOf(env.holder).call() == 30
    assert token.functions.totalSupply().call() == 80
    with expect_revert(token, "ERC20InsufficientBalance", env.minter, 50, 51):
        env.tx(token.functions.transfer(env.holder, 51))
    with expect_revert(token, "ERC20InvalidReceiver", ZERO):
        env.tx(token.functions.transfer(ZERO, 1))


def test_permit_lets_a_spender_move_tokens_with_a_signature(env: Env) -> None:
    token, spender = env.token, env.stranger
    env.tx(token.functions.mint(env.holder, 50))
    deadline = env.chain.timestamp() + 3600
    v, r, s = sign_permit(env.holder_key, token, env.chain.chain_id, env.holder, spender, 40, 0, deadline)
    env.tx(token.functions.permit(env.holder, spender, 40, deadline, v, r, s), spender)
    assert token.functions.allowance(env.holder, spender).call() == 40
    assert token.functions.nonces(env.holder).call() == 1
    env.tx(token.functions.transferFrom(env.holder, spender, 40), spender)
    assert token.functions.balanceOf(spender).call() == 40
    with expect_revert(token, "ERC2612InvalidSigner"):
        env.tx(token.functions.permit(env.holder, spender, 40, deadline, v, r, s), spender)


class TestRedeemWithSig:
    OFFER = keccak(text="offer:coffee")

    def _sign(self, env: Env, amount: int, rid: bytes, deadline: int, key: str | None = None) -> bytes:
        return sign_redeem(
            key or env.holder_key, env.token, env.chain.chain_id, env.holder, amount, rid, self.OFFER, deadline
        )

    def test_relayer_pays_gas_and_holder_balance_drops(self, env: Env) -> None:
        token, relayer = env.token, env.stranger
        env.tx(token.functions.mint(env.holder, 100))
        rid, deadline = keccak(text="r1"), env.chain.timestamp() + 600
        signature = self._sign(env, 60, rid, deadline)
        relayer_eth = env.w3.eth.get_balance(relayer)
        assert token.functions.REDEEM_TYPEHASH().call() == keccak(
            text="Redeem(address holder,uint256 amount,bytes32 redemptionId,bytes32 offerRef,uint256 deadline)"
        )
        receipt = env.tx(token.functions.redeemWithSig(env.holder, 60, rid, self.OFFER, deadline, signature), relayer)
        assert env.w3.eth.get_balance(env.holder) == 0  # the holder never needed gas money
        assert env.w3.eth.get_balance(relayer) < relayer_eth
        assert token.functions.balanceOf(env.holder).call() == 40
        assert token.functions.totalSupply().call() == 40
        assert token.functions.isRedeemed(env.holder, rid).call()
        (event,) = token.events.Redeemed().process_receipt(receipt, errors=DISCARD)
        assert dict(event["args"]) == {
            "token": token.address,
            "holder": env.holder,
            "amount": 60,
            "redemptionId": rid,
            "offerRef": self.OFFER,
        }
        with expect_revert(token, "RedemptionAlreadyUsed", rid):
            env.tx(token.functions.redeemWithSig(env.holder, 60, rid, self.OFFER, deadline, signature), relayer)

    def test_expired_signature_is_refused(self, env: Env) -> None:
        env.tx(env.token.functions.mint(env.holder, 100))
        deadline = env.chain.timestamp() - 1
        signature = self._sign(env, 10, keccak(text="r2"), deadline)
        with expect_revert(env.token, "RedemptionExpired", deadline):
            call = env.token.functions.redeemWithSig(env.holder, 10, keccak(text="r2"), self.OFFER, deadline, signature)
            env.tx(call, env.stranger)

    def test_wrong_signer_or_tampered_amount_is_refused(self, env: Env) -> None:
        token = env.token
        env.tx(token.functions.mint(env.holder, 100))
        rid, deadline = keccak(text="r3"), env.chain.timestamp() + 600
        forged = self._sign(env, 10, rid, deadline, key=env.other_key)
        with expect_revert(token, "InvalidRedemptionSignature"):
            env.tx(token.functions.redeemWithSig(env.holder, 10, rid, self.OFFER, deadline, forged), env.stranger)
        genuine = self._sign(env, 10, rid, deadline)
        with expect_revert(token, "InvalidRedemptionSignature"):
            env.tx(token.functions.redeemWithSig(env.holder, 99, rid, self.OFFER, deadline, genuine), env.stranger)
        assert token.functions.balanceOf(env.holder).call() == 100
        assert not token.functions.isRedeemed(env.holder, rid).call()

    def test_smart_wallet_holder_signs_through_erc1271(self, env: Env) -> None:
        token = env.token
        wallet = deploy(env.w3, "MockERC1271Wallet", env.admin, env.holder)
        env.tx(token.functions.mint(wallet.address, 100))
        rid, deadline = keccak(text="r4"), env.chain.timestamp() + 600
        signature = sign_redeem(
            env.holder_key, token, env.chain.chain_id, wallet.address, 25, rid, self.OFFER, deadline
        )
        env.tx(token.functions.redeemWithSig(wallet.address, 25, rid, self.OFFER, deadline, signature), env.stranger)
        assert token.functions.balanceOf(wallet.address).call() == 75

    def test_holder_can_redeem_paying_own_gas(self, env: Env) -> None:
        token = env.token
        env.tx(token.functions.mint(env.holder, 100))
        env.chain.fund(env.holder)
        rid = keccak(text="r5")
        send_signed(env.w3, token.functions.redeem(30, rid, self.OFFER), env.holder_key)
        assert token.functions.balanceOf(env.holder).call() == 70
        assert token.functions.isRedeemed(env.holder, rid).call()
        with expect_revert(token, "ERC20InsufficientBalance", env.minter, 0, 1):
            env.tx(token.functions.redeem(1, keccak(text="r6"), self.OFFER))

    def test_someone_elses_redeem_cannot_burn_a_pending_relayed_redemption_id(self, env: Env) -> None:
        token = env.token
        env.tx(token.functions.mint(env.holder, 100))
        env.tx(token.functions.mint(env.stranger, 5))
        rid, deadline = keccak(text="r7"), env.chain.timestamp() + 600
        signature = self._sign(env, 40, rid, deadline)
        env.tx(token.functions.redeem(1, rid, self.OFFER), env.stranger)  # front-run attempt with the same id
        env.tx(token.functions.redeemWithSig(env.holder, 40, rid, self.OFFER, deadline, signature), env.minter)
        assert token.functions.balanceOf(env.holder).call() == 60
        assert token.functions.isRedeemed(env.stranger, rid).call()
        assert token.functions.isRedeemed(env.holder, rid).call()


def test_verify_manifest_leaf_checks_inclusion_in_the_stored_root(env: Env) -> None:
    token = env.token
    leaves = [keccak(encode_packed(["address", "uint256"], [env.holder, i])) for i in (1, 2, 3)]
    root, proofs = merkle_root_and_proofs(leaves)
    env.tx(token.functions.batchMint(batch_id("v"), root, encode_entries([(env.holder, 6)])))
    for leaf, proof in zip(leaves, proofs, strict=True):
        assert token.functions.verifyManifestLeaf(batch_id("v"), leaf, proof).call()
    assert not token.functions.verifyManifestLeaf(batch_id("v"), keccak(text="stranger"), proofs[0]).call()
    assert not token.functions.verifyManifestLeaf(batch_id("v"), leaves[0], proofs[1]).call()
    assert not token.functions.verifyManifestLeaf(batch_id("unknown"), leaves[0], proofs[0]).call()
