"""keccak256, on the fastest backend installed (manifests hash every action twice; checksums hash every address)."""

from __future__ import annotations

try:  # NOTE: safe-pysha3 (an eth-hash dependency) hashes ~5-7x faster than eth-hash's pycryptodome backend
    from sha3 import keccak_256 as _keccak_256

    def keccak(data: bytes) -> bytes:
        return bytes(_keccak_256(data).digest())

except ImportError:  # pragma: no cover - same result, slower
    from eth_utils import keccak  # type: ignore[assignment]

__all__ = ["keccak"]
