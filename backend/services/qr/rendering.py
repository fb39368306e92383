"""A campaign's codes: their text (signed on demand), PNG and SVG images, a zip export and a printable sheet."""

from __future__ import annotations

import csv
import html
import io
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import qrcode
from PIL import Image
from qrcode.image.svg import SvgPathImage

from backend.adapters.orm.qr import QrCampaign
from backend.domain import qr as codec
from backend.domain.timestamps import as_utc
from backend.errors import Conflict, NotFound


def expires_at(campaign: QrCampaign) -> int:
    return int(as_utc(campaign.ends_at).timestamp())


def code_text(campaign: QrCampaign, serial: int, ring: codec.QrKeyring) -> str:
    if not 1 <= serial <= campaign.code_count:
        raise NotFound(f"campaign {campaign.id} has no code {serial}")
    payload = codec.QrPayload(campaign.id, serial, expires_at(campaign), campaign.key_id)
    return codec.encode(payload, signing_key(ring, campaign))


def codes_page(campaign: QrCampaign, ring: codec.QrKeyring, offset: int, limit: int) -> list[tuple[int, str]]:
    """(code_id, code) for serials offset+1 .. offset+limit."""
    first, last = offset + 1, min(campaign.code_count, offset + limit)
    serials = range(first, last + 1)
    texts = codec.encode_many(campaign.id, serials, expires_at(campaign), campaign.key_id, signing_key(ring, campaign))
    return list(zip(serials, texts, strict=True))


def signing_key(ring: codec.QrKeyring, campaign: QrCampaign) -> bytes:
    try:
        return ring.signing_key(campaign.key_id)
    except KeyError as exc:
        raise Conflict(f"the key that signed campaign {campaign.id}'s codes was retired") from exc


def _matrix(text: str) -> qrcode.QRCode:  # type: ignore[type-arg]
    # NOTE: level M (15 % of the symbol may be damaged) suits printed codes; the 37-char code fits version 2.
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=1, border=4)
    qr.add_data(text)
    qr.make(fit=True)
    return qr


def render_png(text: str, box_size: int = 8) -> bytes:
    """A black-and-white PNG, `box_size` pixels per module, 4-module quiet zone."""
    matrix = _matrix(text).get_matrix()
    side = len(matrix)
    pixels = bytes(0 if dark else 255 for row in matrix for dark in row)
    image = Image.frombytes("L", (side, side), pixels).resize((side * box_size,) * 2, Image.Resampling.NEAREST)
    out = io.BytesIO()
    image.convert("1").save(out, format="PNG")
    return out.getvalue()


def render_svg(text: str) -> bytes:
    """A scalable SVG (one path), for print shops."""
    image = _matrix(text).make_image(image_factory=SvgPathImage)
    return bytes(image.to_string(encoding="utf-8"))


class _ChunkSink(io.RawIOBase):
    """A write-only, non-seekable file: zipfile streams into it (data descriptors) and we hand out the bytes."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.chunks.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out, self.chunks = b"".join(self.chunks), []
        return out


def export_zip(
    campaign: QrCampaign, ring: codec.QrKeyring, *, page: int = 500, on_render: Callable[[], None] | None = None
) -> Iterator[bytes]:
    """Stream a zip of every code as `codes/<code_id>.png` plus `manifest.csv`; memory stays one page deep."""
    sink = _ChunkSink()
    manifest = io.StringIO()
    rows = csv.writer(manifest, lineterminator="\n")
    rows.writerow(["code_id", "code", "campaign_id", "expires_at", "file"])
    expiry = datetime.fromtimestamp(expires_at(campaign), UTC).isoformat()
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for offset in range(0, campaign.code_count, page):
            for serial, text in codes_page(campaign, ring, offset, page):
                name = f"codes/{serial:06d}.png"
                archive.writestr(name, render_png(text))  # PNG is compressed already
                if on_render is not None:
                    on_render()
                rows.writerow([serial, text, campaign.id, expiry, name])
            yield sink.take()
        archive.writestr("manifest.csv", manifest.getvalue(), compress_type=zipfile.ZIP_DEFLATED)
    yield sink.take()


_SHEET_CSS = (
    "@page{size:A4;margin:10mm}body{font-family:sans-serif;margin:0}"
    ".grid{display:grid;grid-template-columns:repeat(4,1fr);gap:4mm}"
    ".cell{border:1px dashed #bbb;padding:2mm;text-align:center;break-inside:avoid}"
    ".cell svg{width:38mm;height:38mm}.id{font-size:8pt;color:#555;word-break:break-all}"
)


def render_sheet(campaign: QrCampaign, ring: codec.QrKeyring, offset: int, limit: int) -> str:
    """A printable HTML page of codes (4 per row on A4, cut lines), each labelled with its id."""
    cells = []
    for serial, text in codes_page(campaign, ring, offset, limit):
        svg = render_svg(text).decode()
        cells.append(f'<div class="cell">{svg}<div class="id">#{serial} · {text}</div></div>')
    title = html.escape(campaign.name)
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{title}</title><style>{_SHEET_CSS}</style>'
        f'</head><body><h1>{title}</h1><div class="grid">{"".join(cells)}</div></body></html>'
    )
