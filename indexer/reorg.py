"""`ReorgDetector`: does the next block still build on what we stored? If not, where do the chains meet?"""

from __future__ import annotations

import logging

from indexer.errors import ReorgBeyondDepth
from indexer.fetch.blocks import BlockHeader, HeaderFetcher
from indexer.store.base import Cursor, MirrorStore

log = logging.getLogger("loyalty.indexer.reorg")
WALK_BATCH = 32


class ReorgDetector:
    def __init__(self, store: MirrorStore, headers: HeaderFetcher, chain_id: int) -> None:
        self.store = store
        self.headers = headers
        self.chain_id = chain_id

    @staticmethod
    def extends(cursor: Cursor | None, first: BlockHeader) -> bool:
        return cursor is None or first.parent_hash == cursor.hash

    def common_ancestor(self, cursor: Cursor) -> BlockHeader:
        """Walk back from the cursor comparing kept hashes with the canonical chain, a batch of headers at a time.

        Only the unfinalized window is kept; running out of it means the reorg went deeper than we can prove
        anything about, so we stop loudly instead of guessing.
        """
        oldest = self.store.oldest_kept(self.chain_id)
        top = cursor.number
        while oldest is not None and top >= oldest:
            low = max(oldest, top - WALK_BATCH + 1)
            numbers = list(range(top, low - 1, -1))
            canonical = self.headers.by_number(numbers)
            for header in canonical:
                kept = self.store.kept_block(self.chain_id, header.number)
                if kept is not None and kept == header.hash:
                    log.warning(
                        "chain %s reorg: common ancestor %d (cursor was %d)",
                        self.chain_id,
                        header.number,
                        cursor.number,
                    )
                    return header
            top = low - 1
        raise ReorgBeyondDepth(self.chain_id, cursor.number, oldest)
