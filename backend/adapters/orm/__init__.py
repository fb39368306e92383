"""SQLAlchemy tables. Every feature's tables live in their own module and share `Base`."""

from backend.adapters.orm import deployments, earning, minting
from backend.adapters.orm import imports as imports
from backend.adapters.orm import indexer as indexer
from backend.adapters.orm import notifications as notifications
from backend.adapters.orm import pipeline as pipeline
from backend.adapters.orm import qr as qr
from backend.adapters.orm import relayer as relayer
from backend.adapters.orm import shoppers as shoppers
from backend.adapters.orm.base import Base, Uint256, utcnow

__all__ = ["Base", "Uint256", "deployments", "earning", "minting", "utcnow"]
