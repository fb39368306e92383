"""The shape of an EIP-4361 (Sign-In with Ethereum) message, read line by line in linear time, with caps.

What cannot be a sign-in message is refused here in microseconds, before the nonce is looked up and long before
the `siwe` library parses it. Every field is matched against the EIP's own ABNF character classes and capped, so a
message that passes is small and regular.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

MAX_MESSAGE_CHARS = 2_048  # the fields below at their caps, with a few resources, fit in this
MAX_STATEMENT_CHARS = 256
MAX_URI_CHARS = 256
MAX_RESOURCES = 8
HEADER_SUFFIX = " wants you to sign in with your Ethereum account:"

_ASCII = re.compile(r"[\x20-\x7e\n]*")
_SCHEME = r"[A-Za-z][A-Za-z0-9+.-]{0,15}"
_HEADER = re.compile(rf"(?:(?P<scheme>{_SCHEME})://)?(?P<domain>[A-Za-z0-9._~%!$&'()*+,;=:@\[\]-]{{1,255}})")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
# EIP-4361: statement = 1*( reserved / unreserved / " " )
_STATEMENT = re.compile(rf"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;= ]{{1,{MAX_STATEMENT_CHARS}}}")
_URI = re.compile(rf"{_SCHEME}:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]{{1,{MAX_URI_CHARS}}}")
_CHAIN_ID = re.compile(r"[0-9]{1,20}")
_NONCE = re.compile(r"[A-Za-z0-9]{8,64}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})")
_REQUEST_ID = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@%]{0,128}")
_OPTIONAL = (("Expiration Time: ", "expiration_time"), ("Not Before: ", "not_before"), ("Request ID: ", "request_id"))


class NotASiweMessage(ValueError):
    """The text cannot be an EIP-4361 message; the message says which line or field."""


@dataclass(frozen=True)
class SiweFields:
    scheme: str | None
    domain: str
    address: str
    statement: str | None
    uri: str
    chain_id: int
    nonce: str
    issued_at: datetime
    expiration_time: datetime | None
    not_before: datetime | None
    request_id: str | None
    resources: tuple[str, ...]

    @property
    def uri_origin(self) -> str:
        """`scheme://authority` of the URI, lowercase (RFC 6454)."""
        scheme, _, rest = self.uri.partition("://")
        authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
        return f"{scheme.lower()}://{authority.lower()}"


def read_fields(message: str) -> SiweFields:
    """The fields of `message` if it has the EIP-4361 line structure and every field is within its cap."""
    if len(message) > MAX_MESSAGE_CHARS:
        raise NotASiweMessage(f"a sign-in message has at most {MAX_MESSAGE_CHARS} characters")
    if not _ASCII.fullmatch(message):
        raise NotASiweMessage("a sign-in message is printable ASCII lines separated by LF")
    lines = message.split("\n")
    if len(lines) > 16 + MAX_RESOURCES:
        raise NotASiweMessage("too many lines for a sign-in message")
    header = lines[0].removesuffix(HEADER_SUFFIX)
    match = _HEADER.fullmatch(header) if header != lines[0] else None
    if match is None:
        raise NotASiweMessage(f"the first line must be '<domain>{HEADER_SUFFIX}'")
    address = _field(lines, 1, "", _ADDRESS, "address")
    if len(lines) < 4 or lines[2] != "":
        raise NotASiweMessage("the address is followed by an empty line")
    at = 3
    statement = None
    if lines[at] != "":
        statement = _field(lines, at, "", _STATEMENT, "statement")
        at += 1
    if len(lines) <= at or lines[at] != "":
        raise NotASiweMessage("the statement (if any) is followed by an empty line")
    at += 1
    uri = _field(lines, at, "URI: ", _URI, "URI")
    _field(lines, at + 1, "Version: ", re.compile("1"), "version")
    chain_id = int(_field(lines, at + 2, "Chain ID: ", _CHAIN_ID, "chain ID"))
    nonce = _field(lines, at + 3, "Nonce: ", _NONCE, "nonce")
    issued_at = _time(_field(lines, at + 4, "Issued At: ", _DATE_TIME, "issued-at time"), "Issued At")
    at += 5
    optional: dict[str, str] = {}
    for prefix, name in _OPTIONAL:
        if at < len(lines) and lines[at].startswith(prefix):
            pattern = _REQUEST_ID if name == "request_id" else _DATE_TIME
            optional[name] = _field(lines, at, prefix, pattern, prefix.rstrip(": ").lower())
            at += 1
    resources: list[str] = []
    if at < len(lines) and lines[at] == "Resources:":
        resources = [_field(lines, i, "- ", _URI, "resource") for i in range(at + 1, len(lines))]
        if len(resources) > MAX_RESOURCES:
            raise NotASiweMessage(f"at most {MAX_RESOURCES} resources")
        at = len(lines)
    if at != len(lines):
        raise NotASiweMessage(f"unexpected line {at + 1}")
    return SiweFields(
        scheme=match["scheme"],
        domain=match["domain"],
        address=address,
        statement=statement,
        uri=uri,
        chain_id=chain_id,
        nonce=nonce,
        issued_at=issued_at,
        expiration_time=_time(optional["expiration_time"], "Expiration Time")
        if "expiration_time" in optional
        else None,
        not_before=_time(optional["not_before"], "Not Before") if "not_before" in optional else None,
        request_id=optional.get("request_id"),
        resources=tuple(resources),
    )


def _field(lines: list[str], index: int, prefix: str, pattern: re.Pattern[str], name: str) -> str:
    line = lines[index] if index < len(lines) else None
    if line is None or not line.startswith(prefix) or not pattern.fullmatch(line[len(prefix) :]):
        raise NotASiweMessage(f"line {index + 1} must be the {name}" + (f" ('{prefix}...')" if prefix else ""))
    return line[len(prefix) :]


def _time(value: str, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError as exc:
        raise NotASiweMessage(f"{name} is not an RFC 3339 date-time") from exc
    return parsed.astimezone(UTC)


def message_text(
    domain: str,
    address: str,
    chain_id: int,
    nonce: str,
    *,
    issued_at: datetime | None = None,
    expiration: datetime | None = None,
) -> str:
    """The EIP-4361 message a wallet signs to sign in here (what `loyalty_client.Wallet` signs)."""
    lines = [
        f"{domain} wants you to sign in with your Ethereum account:",
        address,
        "",
        "Sign in to Loyalty.",
        "",
        f"URI: http://{domain}",
        "Version: 1",
        f"Chain ID: {chain_id}",
        f"Nonce: {nonce}",
        f"Issued At: {_siwe_time(issued_at or datetime.now(UTC))}",
    ]
    if expiration is not None:
        lines.append(f"Expiration Time: {_siwe_time(expiration)}")
    return "\n".join(lines)


def _siwe_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
