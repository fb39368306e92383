"""LoyaltyTokenFactory: one token per brand, the registry views, the coalition token, the code size limit."""

from __future__ import annotations

from eth_utils import keccak
from web3.logs import DISCARD

from tests.contracts.conftest import Env
from tests.contracts.kit import COALITION, deploy, expect_revert, load_artifact

CREATOR_ROLE = keccak(text="CREATOR_ROLE")
MINTER_ROLE = keccak(text="MINTER_ROLE")
EIP170_CODE_SIZE_LIMIT = 24_576


def test_create_token_registers_it_and_emits_token_created(env: Env) -> None:
    factory = env.factory
    brand = keccak(text="brand:bakery")
    count = factory.functions.tokenCount().call()
    call = factory.functions.createToken(brand, "Bakery Stars", "BAKE", 2, 10**9, env.stranger, [env.minter])
    receipt = env.tx(call, env.admin)
    (event,) = factory.events.TokenCreated().process_receipt(receipt, errors=DISCARD)
    token_address = event["args"]["token"]
    assert dict(event["args"]) == {
        "brandId": brand,
        "token": token_address,
        "name": "Bakery Stars",
        "symbol": "BAKE",
        "decimals": 2,
        "cap": 10**9,
        "admin": env.stranger,
    }
    assert factory.functions.tokenOf(brand).call() == token_address
    assert factory.functions.tokenCount().call() == count + 1
    assert factory.functions.tokenAt(count).call() == token_address
    token = env.w3.eth.contract(address=token_address, abi=load_artifact("LoyaltyToken")["abi"])
    assert token.functions.symbol().call() == "BAKE"
    assert token.functions.decimals().call() == 2
    assert token.functions.cap().call() == 10**9
    assert token.functions.hasRole(b"\x00" * 32, env.stranger).call()
    assert token.functions.hasRole(MINTER_ROLE, env.minter).call()
    assert not token.functions.hasRole(b"\x00" * 32, factory.address).call()  # the factory keeps no power


def test_one_token_per_brand(env: Env) -> None:
    brand = keccak(text="acme")  # created by the session fixture
    existing = env.factory.functions.tokenOf(brand).call()
    assert existing == env.token.address
    with expect_revert(env.factory, "BrandAlreadyHasToken", brand, existing):
        env.tx(env.factory.functions.createToken(brand, "Again", "AGN", 18, 0, env.admin, []), env.admin)


def test_zero_brand_id_and_non_creator_are_refused(env: Env) -> None:
    factory = env.factory
    with expect_revert(factory, "ZeroBrandId"):
        env.tx(factory.functions.createToken(b"\x00" * 32, "X", "X", 18, 0, env.admin, []), env.admin)
    with expect_revert(factory, "AccessControlUnauthorizedAccount", env.stranger, CREATOR_ROLE):
        env.tx(factory.functions.createToken(keccak(text="b"), "X", "X", 18, 0, env.admin, []), env.stranger)
    with expect_revert(factory, "ZeroAdmin"):
        deploy(env.w3, "LoyaltyTokenFactory", env.admin, "0x" + "00" * 20)


def test_coalition_token_is_just_another_brand(env: Env) -> None:
    factory = env.factory
    assert factory.functions.hasRole(CREATOR_ROLE, env.admin).call()
    env.tx(factory.functions.createToken(COALITION, "Coalition", "LOYAL", 18, 0, env.admin, [env.minter]), env.admin)
    coalition = factory.functions.tokenOf(COALITION).call()
    assert coalition not in ("0x" + "00" * 20, env.token.address)


def test_factory_fits_the_contract_size_limit() -> None:
    for name in ("LoyaltyTokenFactory", "LoyaltyToken"):
        runtime = bytes.fromhex(load_artifact(name)["deployedBytecode"][2:])
        assert len(runtime) < EIP170_CODE_SIZE_LIMIT, name
