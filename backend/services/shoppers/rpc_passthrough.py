"""`POST /rpc` (embedded chain only): reading a JSON-RPC request or batch, bounded, with JSON-RPC error codes.

Refusals are problem documents that are JSON-RPC error responses too (`jsonrpc`, `id`, `error`), so both an HTTP
client and a JSON-RPC library can read them.
"""

from __future__ import annotations

import json
from typing import Any

from backend.errors import InvalidInput

PARSE_ERROR, INVALID_REQUEST = -32700, -32600


class RpcRequestError(InvalidInput):
    status = 400
    code = "rpc-invalid-request"
    title = "Not a JSON-RPC request"
    rpc_code = INVALID_REQUEST

    def __init__(self, detail: str) -> None:
        super().__init__(detail, jsonrpc="2.0", id=None, error={"code": self.rpc_code, "message": detail})


class RpcParseError(RpcRequestError):
    code = "rpc-parse-error"
    title = "The body is not JSON"
    rpc_code = PARSE_ERROR


class RpcBatchTooLarge(RpcRequestError):
    code = "rpc-batch-too-large"
    title = "Too many calls in one batch"


def read_calls(body: bytes, max_batch: int) -> tuple[list[Any], bool]:
    """The calls of a JSON-RPC body and whether it was a batch."""
    try:
        document = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RpcParseError("the body is not UTF-8") from exc
    except ValueError as exc:  # JSONDecodeError, and an empty body
        raise RpcParseError(f"the body is not JSON: {exc}"[:200]) from exc
    if isinstance(document, dict):
        return [document], False
    if not isinstance(document, list) or not document:
        raise RpcRequestError("a JSON-RPC body is a request object or a non-empty array of them")
    if len(document) > max_batch:
        raise RpcBatchTooLarge(f"a batch holds at most {max_batch} calls (LOYALTY_RPC_MAX_BATCH); split it")
    return document, True
