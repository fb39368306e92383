"""The transaction relayer: fee oracle, nonce manager, signer/broadcaster and tracker behind one `Relayer`.

Consumers (batch mints, gasless redemptions):

    relayer = container.relayer                        # built once per process by backend.bootstrap
    with container.uow() as uow:                       # inside the consumer's own transaction
        relayer.enqueue(uow.session, purpose="batch-mint", ref=batch_id, to=token, data=calldata, gas_limit=gas)
        uow.commit()
    relayer.dispatch(); relayer.track()                # by the relayer loop (`loyalty relayer run`)

then poll `relay_intents` rows of their purpose in a terminal state (`confirmed` | `failed`) with
`settled = false`, act on them, and set `settled = true` in the same transaction (exactly-once handoff).
`waiting_reason` says why a queued intent is not sent yet (fee caps, no free hot wallet, funds).
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from backend.adapters.chain.client import ChainClient
from backend.adapters.chain.keys import Signer
from backend.config import Settings
from backend.services.relayer.errors import Broadcast, IntentConflict, InvalidIntent, NotCancellable, RelayerError
from backend.services.relayer.fee_oracle import FeeOracle, FeeQuote
from backend.services.relayer.nonce_manager import NonceManager
from backend.services.relayer.relayer import Relayer, RelayerConfig
from backend.services.relayer.revert_decoder import RevertDecoder

__all__ = [
    "Broadcast",
    "FeeOracle",
    "FeeQuote",
    "IntentConflict",
    "InvalidIntent",
    "NonceManager",
    "NotCancellable",
    "Relayer",
    "RelayerConfig",
    "RelayerError",
    "RevertDecoder",
    "build_relayer",
]


def build_fee_oracle(chain: ChainClient, settings: Settings, min_tip_wei: int) -> FeeOracle:
    return FeeOracle(
        chain,
        min_tip_wei=min_tip_wei,
        history_blocks=settings.fee_history_blocks,
        percentile=settings.fee_percentile,
        headroom_blocks=settings.base_fee_headroom_blocks,
    )


def build_relayer(
    sessions: sessionmaker[Session], chain: ChainClient, wallets: list[Signer], settings: Settings, min_tip_wei: int
) -> Relayer:
    """The relayer of a chain and its hot wallets (one per process: the container builds it once)."""
    return Relayer(
        sessions, chain, wallets, RelayerConfig.from_settings(settings), build_fee_oracle(chain, settings, min_tip_wei)
    )
