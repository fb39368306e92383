"""Loyalty backend: ledger, minting pipeline and API for ERC-20 loyalty tokens."""

import importlib.util
import os

__version__ = "0.1.0"

# NOTE: keccak is on every hot path (Merkle manifests, checksummed addresses, log decoding); pysha3 hashes
# ~6x faster than eth-hash's default pycryptodome backend. Must run before anything imports eth_hash.
if "ETH_HASH_BACKEND" not in os.environ and importlib.util.find_spec("sha3") is not None:
    os.environ["ETH_HASH_BACKEND"] = "pysha3"

# NOTE: a dependency imported before this package (e.g. py_ecc) may have raised the recursion limit.
from backend.recursion_limit import clamp_recursion_limit

clamp_recursion_limit()
