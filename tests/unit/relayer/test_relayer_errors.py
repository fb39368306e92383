"""Node answers are classified the way the relayer must react; revert data decodes to the contract's errors."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as selector

from backend.services.relayer.errors import Broadcast, classify_broadcast_error, unknown_error, unknown_streak
from backend.services.relayer.revert_decoder import RevertDecoder


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("already known", Broadcast.ALREADY_KNOWN),
        ("transaction already imported", Broadcast.ALREADY_KNOWN),  # anvil
        ("nonce too low: next nonce 5, tx nonce 4", Broadcast.NONCE_TOO_LOW),
        ("replacement transaction underpriced", Broadcast.REPLACEMENT_UNDERPRICED),
        ("transaction underpriced: tip needed 25000000000, tip permitted 1000000000", Broadcast.UNDERPRICED),
        ("max fee per gas less than block base fee", Broadcast.UNDERPRICED),
        ("insufficient funds for gas * price + value", Broadcast.INSUFFICIENT_FUNDS),
        ("intrinsic gas too low", Broadcast.REJECTED),
        ("exceeds block gas limit", Broadcast.REJECTED),
        ("internal error", Broadcast.UNKNOWN),  # unrecognised: retried, never abandoned
    ],
)
def test_classifies_node_messages(message: str, expected: Broadcast) -> None:
    assert classify_broadcast_error(ValueError({"code": -32000, "message": message})) is expected


def test_transport_failures_are_not_failures() -> None:
    assert classify_broadcast_error(TimeoutError("read timed out")) is Broadcast.TIMEOUT
    assert classify_broadcast_error(ConnectionError("reset by peer")) is Broadcast.TIMEOUT
    assert Broadcast.TIMEOUT.accepted and Broadcast.UNKNOWN.accepted and not Broadcast.REJECTED.accepted


@pytest.fixture(scope="module")
def decoder() -> RevertDecoder:
    return RevertDecoder.for_platform()


def test_decodes_loyalty_token_custom_errors(decoder: RevertDecoder) -> None:
    assert decoder.decode(selector("EnforcedPause()")) == "EnforcedPause()"
    capped = selector("ERC20ExceededCap(uint256,uint256)") + encode(["uint256", "uint256"], [1001, 1000])
    assert decoder.decode(capped) == "ERC20ExceededCap(1001, 1000)"
    batch = b"\xab" * 32
    data = "0x" + (selector("BatchAlreadyMinted(bytes32)") + encode(["bytes32"], [batch])).hex()
    assert decoder.decode(data) == f"BatchAlreadyMinted(0x{'ab' * 32})"


def test_decodes_require_strings_and_unknown_selectors(decoder: RevertDecoder) -> None:
    assert decoder.decode(selector("Error(string)") + encode(["string"], ["nope"])) == "Error('nope')"
    assert decoder.decode("0xdeadbeef").startswith("unknown error 0xdeadbeef")
    assert decoder.decode(b"") == "reverted without data"


def test_unrecognised_errors_in_a_row_are_counted_and_any_other_answer_resets_the_count() -> None:
    error = None
    for _ in range(3):
        error = unknown_error(error, "flux capacitor: out of sync")
    assert error == "unknown (3 in a row): flux capacitor: out of sync" and unknown_streak(error) == 3
    assert unknown_streak("timeout: read timed out") == 0 and unknown_streak(None) == 0
    assert unknown_streak(unknown_error("timeout: read timed out", "odd")) == 1
