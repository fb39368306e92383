"""Minting pipeline: pending credit → gas-sized batches → relayer → settled, exactly once."""

from backend.services.minting.pipeline import MintingPipeline, build_pipeline, pipeline_tasks

__all__ = ["MintingPipeline", "build_pipeline", "pipeline_tasks"]
