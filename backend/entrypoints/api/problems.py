"""RFC 9457 problem responses: every error leaves the API as `application/problem+json` with a stable code."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from web3.exceptions import Web3RPCError

from backend.domain.addresses import InvalidAddress, InvalidAddressChecksum
from backend.errors import LoyaltyError

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("loyalty.api")


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    instance: str = "",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://loyalty.dev/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


# NOTE: pydantic names the model a value should be ("... instance of ActionIn") and puts union members' class
# names and validator wrappers in `loc`; a client needs the field and the rule, never the server's class names.
_MODEL_MESSAGES = {
    "model_type": "Input should be an object",
    "model_attributes_type": "Input should be an object",
    "dataclass_type": "Input should be an object",
    "dataclass_exact_type": "Input should be an object",
    "is_instance_of": "Input is of the wrong type",
    "is_subclass_of": "Input is of the wrong type",
}
_INSTANCE_OF = re.compile(r",? or (?:an )?instance of [\w.]+|(?:an )?instance of [\w.]+")
_INTERNAL_LOC = re.compile(r"^[A-Z][A-Za-z0-9_]*$|[\[\]()]")


def _clean_errors(errors: list[Any]) -> list[dict[str, Any]]:
    cleaned = []
    for err in errors:
        msg = _MODEL_MESSAGES.get(str(err.get("type")), str(err.get("msg", "")))
        cleaned.append(
            {
                "loc": [str(p) for p in err.get("loc", ()) if not _INTERNAL_LOC.search(str(p))],
                "msg": _INSTANCE_OF.sub("", msg).strip() or "Invalid value",
                "type": err.get("type"),
            }
        )
    return cleaned


# pydantic error types raised by our own validators → the error whose code and title the problem carries
# (when every error of the request is of that one type; otherwise `invalid-input`, each error keeping its type)
VALIDATION_ERRORS: dict[str, type[LoyaltyError]] = {
    "invalid_address": InvalidAddress,
    "invalid_address_checksum": InvalidAddressChecksum,
}


def _validation_code(errors: list[dict[str, Any]]) -> tuple[str, str]:
    types = {err["type"] for err in errors}
    if len(types) == 1 and (only := types.pop()) in VALIDATION_ERRORS:
        return VALIDATION_ERRORS[only].code, VALIDATION_ERRORS[only].title
    return "invalid-input", "Invalid input"


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}


def document_problems(app: FastAPI) -> None:
    """Describe errors as they are sent: 422 and every other error status are problem+json documents.

    NOTE: FastAPI documents 422 as `application/json` `HTTPValidationError`; clients generated from the schema
    (and schemathesis' conformance checks) would otherwise expect a body this API never sends.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
        content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                responses = operation.get("responses") if isinstance(operation, dict) else None
                if responses is None:
                    continue
                if "422" in responses:
                    responses["422"] = {"description": "Invalid input (RFC 9457 problem)", "content": content}
                responses.setdefault("default", {"description": "An RFC 9457 problem document", "content": content})
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _transient(request: Request, exc: Exception, code: str, title: str, detail: str) -> JSONResponse:
    log.warning("%s on %s %s: %s", code, request.method, request.url.path, exc)
    return problem(503, code, title, detail, request.url.path, headers={"Retry-After": "1"})


async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The answer to a lost database, for the app's handlers and for middleware that runs outside them."""
    # NOTE: a lost or refused database connection (restart, failover, deadlock victim) is the server's
    # transient state, not a bug: 503 + Retry-After tells the client to send the same request again.
    detail = "the database connection was lost; retry the same request shortly"
    return _transient(request, exc, "database-unavailable", "Database temporarily unavailable", detail)


def install_problem_handlers(app: FastAPI) -> None:
    document_problems(app)

    @app.exception_handler(LoyaltyError)
    async def _loyalty_error(request: Request, exc: LoyaltyError) -> JSONResponse:
        headers = {k: str(v) for k, v in exc.extra.pop("headers", {}).items()} if exc.extra else None
        return problem(exc.status, exc.code, exc.title, exc.detail, request.url.path, headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _clean_errors(list(exc.errors()))
        code, title = _validation_code(errors)
        return problem(422, code, title, "the request did not validate", request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            404: "not-found",
            405: "method-not-allowed",
            401: "unauthorized",
            403: "forbidden",
            413: "body-too-large",
        }.get(exc.status_code, "http-error")
        return problem(
            exc.status_code,
            code,
            str(exc.detail),
            str(exc.detail),
            request.url.path,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(request: Request, exc: Exception) -> JSONResponse:
        # NOTE: an id or number beyond the column (e.g. 2^63 on SQLite, bigint/numeric on PostgreSQL) names
        # nothing that can exist: the caller's input is wrong, not the server.
        return problem(
            422, "invalid-input", "Invalid input", "a number in the request is out of range", request.url.path
        )

    app.add_exception_handler(OperationalError, database_unavailable)
    app.add_exception_handler(InterfaceError, database_unavailable)

    @app.exception_handler(Web3RPCError)
    async def _node_error(request: Request, exc: Exception) -> JSONResponse:
        # NOTE: an error answer from the node (overloaded, restarting, a provider's 5xx as JSON-RPC) is transient;
        # reverts are ContractLogicError, which is not a Web3RPCError.
        detail = "the blockchain node answered with an error; retry the same request shortly"
        return _transient(request, exc, "chain-unavailable", "Blockchain node unavailable", detail)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal-error", "Internal error", "an unexpected error occurred", request.url.path)
