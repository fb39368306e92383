"""SQLAlchemy tables. Every feature's tables live in their own module and share `Base`."""

from backend.adapters.orm import (
    deployments,
    earning,
    gdpr,
    imports,
    indexer,
    minting,
    notifications,
    qr,
    relayer,
    shoppers,
)
from backend.adapters.orm.base import Base, Uint256, utcnow

__all__ = [
    "Base",
    "Uint256",
    "deployments",
    "earning",
    "gdpr",
    "imports",
    "indexer",
    "minting",
    "notifications",
    "qr",
    "relayer",
    "shoppers",
    "utcnow",
]
