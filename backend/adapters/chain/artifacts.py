"""Compiled contract artifacts (ABI + bytecode) shipped as package data; no compiler or ape at run time."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from backend.errors import ConfigurationError

ARTIFACTS_DIR = Path(__file__).resolve().parent.parent.parent / "artifacts"


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str

    def event_abi(self, name: str) -> dict[str, Any]:
        for item in self.abi:
            if item.get("type") == "event" and item.get("name") == name:
                return item
        raise KeyError(f"{self.name} has no event {name}")


@cache
def load_artifact(name: str) -> Artifact:
    path = ARTIFACTS_DIR / f"{name}.json"
    if not path.exists():
        raise ConfigurationError(f"missing contract artifact {path}; run scripts/compile_contracts.py")
    data = json.loads(path.read_text())
    return Artifact(
        name=data["contractName"],
        abi=data["abi"],
        bytecode=data["bytecode"],
        deployed_bytecode=data["deployedBytecode"],
    )
