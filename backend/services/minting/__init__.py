"""Minting pipeline: pending credit → gas-sized batches → relayer → settled, exactly once."""

from backend.services.minting.pipeline import MintingPipeline

__all__ = ["MintingPipeline"]
