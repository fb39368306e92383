"""The transaction relayer: fee oracle, nonce manager, signer/broadcaster and tracker behind one `Relayer`.

Consumers (batch mints, gasless redemptions):

    relayer = build_relayer(container)
    with container.uow() as uow:                       # inside the consumer's own transaction
        relayer.enqueue(uow.session, purpose="batch-mint", ref=batch_id, to=token, data=calldata, gas_limit=gas)
        uow.commit()
    relayer.dispatch(); relayer.track()                # periodic tasks (embedded runner or Celery)

then poll `relay_intents` rows of their purpose in a terminal state (`confirmed` | `failed`) with
`settled = false`, act on them, and set `settled = true` in the same transaction (exactly-once handoff).
`waiting_reason` says why a queued intent is not sent yet (fee caps, no free hot wallet, funds).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backend.services.relayer.errors import Broadcast, IntentConflict, InvalidIntent, NotCancellable, RelayerError
from backend.services.relayer.fee_oracle import FeeOracle, FeeQuote
from backend.services.relayer.nonce_manager import NonceManager
from backend.services.relayer.relayer import Relayer, RelayerConfig
from backend.services.relayer.revert_decoder import RevertDecoder

if TYPE_CHECKING:
    from backend.bootstrap import Container

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


def build_fee_oracle(container: Container) -> FeeOracle:
    s = container.settings
    return FeeOracle(
        container.chain,
        min_tip_wei=container.min_tip_wei,
        history_blocks=s.fee_history_blocks,
        percentile=s.fee_percentile,
        headroom_blocks=s.base_fee_headroom_blocks,
    )


def build_relayer(container: Container) -> Relayer:
    """The relayer of this container's chain and hot wallets (one per process; cached in `container.extras`)."""
    relayer = container.extras.get("relayer")
    if relayer is None:
        relayer = Relayer(
            container.sessions,
            container.chain,
            container.hot_wallets,
            RelayerConfig.from_settings(container.settings),
            build_fee_oracle(container),
        )
        container.extras["relayer"] = relayer
    return relayer
