"""Contract test fixtures: one chain per backend (py-evm eth-tester, anvil), contracts deployed once per session,
every test isolated by a chain snapshot that is reverted afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from eth_tester import EthereumTester, PyEVMBackend
from eth_utils import keccak
from web3 import EthereumTesterProvider, Web3
from web3.contract import Contract
from web3.logs import DISCARD

from devtools.anvil import AnvilNode
from tests.contracts.kit import deploy, load_artifact, transact

TOKEN_CAP = 1_000_000
# Local keys of test holders that sign permits and redemptions (not funded unless a test funds them).
HOLDER_KEY = "0x" + keccak(text="loyalty-test-holder").hex()
OTHER_KEY = "0x" + keccak(text="loyalty-test-other").hex()


@dataclass
class Chain:
    name: str
    w3: Web3
    take_snapshot: Callable[[], Any]
    revert_to: Callable[[Any], None]

    @property
    def accounts(self) -> list[str]:
        return list(self.w3.eth.accounts)

    @property
    def chain_id(self) -> int:
        return int(self.w3.eth.chain_id)

    def timestamp(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def fund(self, address: str, wei: int = 10**18) -> None:
        tx = self.w3.eth.send_transaction({"from": self.accounts[0], "to": address, "value": wei})
        self.w3.eth.wait_for_transaction_receipt(tx)


@pytest.fixture(scope="session", params=["eth-tester", pytest.param("anvil", marks=pytest.mark.anvil)])
def chain(request: pytest.FixtureRequest) -> Iterator[Chain]:
    if request.param == "eth-tester":
        tester = EthereumTester(PyEVMBackend())
        w3 = Web3(EthereumTesterProvider(tester))
        yield Chain("eth-tester", w3, tester.take_snapshot, tester.revert_to_snapshot)
        return
    with AnvilNode() as node:
        w3 = Web3(Web3.HTTPProvider(node.url))
        yield Chain("anvil", w3, node.snapshot, node.revert)


@dataclass
class Deployed:
    factory: Contract
    token: Contract  # created through the factory, uncapped, 18 decimals
    capped: Contract  # deployed directly, cap TOKEN_CAP, 0 decimals
    admin: str
    minter: str
    stranger: str


@pytest.fixture(scope="session")
def deployed(chain: Chain) -> Deployed:
    admin, minter, stranger = chain.accounts[:3]
    w3 = chain.w3
    factory = deploy(w3, "LoyaltyTokenFactory", admin, admin)
    receipt = transact(
        w3,
        factory.functions.createToken(keccak(text="acme"), "Acme Points", "ACME", 18, 0, admin, [minter]),
        admin,
    )
    (created,) = factory.events.TokenCreated().process_receipt(receipt, errors=DISCARD)
    token = w3.eth.contract(address=created["args"]["token"], abi=load_artifact("LoyaltyToken")["abi"])
    capped = deploy(w3, "LoyaltyToken", admin, "Capped", "CAP", 0, TOKEN_CAP, admin, [minter])
    return Deployed(factory, token, capped, admin, minter, stranger)


@dataclass
class Env:
    """Everything one test needs; the chain is reverted to its session state after the test."""

    chain: Chain
    w3: Web3
    factory: Contract
    token: Contract
    capped: Contract
    admin: str
    minter: str
    stranger: str
    holder_key: str
    holder: str
    other_key: str
    other: str

    def tx(self, call: Any, sender: str | None = None, gas: int | None = None) -> Any:
        return transact(self.w3, call, sender or self.minter, gas)


@pytest.fixture
def env(chain: Chain, deployed: Deployed) -> Iterator[Env]:
    snapshot = chain.take_snapshot()
    yield Env(
        chain=chain,
        w3=chain.w3,
        factory=deployed.factory,
        token=deployed.token,
        capped=deployed.capped,
        admin=deployed.admin,
        minter=deployed.minter,
        stranger=deployed.stranger,
        holder_key=HOLDER_KEY,
        holder=Account.from_key(HOLDER_KEY).address,
        other_key=OTHER_KEY,
        other=Account.from_key(OTHER_KEY).address,
    )
    chain.revert_to(snapshot)
