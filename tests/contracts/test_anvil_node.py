"""The AnvilNode test helper that contract, pipeline and indexer tests share."""

from __future__ import annotations

import os

import pytest

from devtools.anvil import AnvilError, AnvilNode

pytestmark = pytest.mark.anvil


def test_mine_snapshot_revert_reorg_and_stop() -> None:
    with AnvilNode(chain_id=1337, accounts=3) as node:
        assert int(node.rpc("eth_chainId"), 16) == 1337
        assert len(node.rpc("eth_accounts")) == 3
        node.mine(4)
        assert node.block_number() == 4
        snapshot = node.snapshot()
        node.mine(3)
        node.revert(snapshot)
        assert node.block_number() == 4
        old_hash = node.rpc("eth_getBlockByNumber", "0x4", False)["hash"]
        node.reorg(2)
        assert node.block_number() == 4
        assert node.rpc("eth_getBlockByNumber", "0x4", False)["hash"] != old_hash
        with pytest.raises(AnvilError, match="no_such_method"):
            node.rpc("no_such_method")
        pid = node.pid
    assert pid is not None and not node.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
