"""QR campaign exports: rendered once, kept as a file, streamed; one export being rendered per brand at a time.

A campaign's codes never change (they are signed from its id, serial, expiry and key), so its zip is rendered
the first time it is asked for while it streams, and every later request is served from the finished file.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from backend.adapters.orm.qr import QrCampaign
from backend.domain import qr as codec
from backend.errors import RateLimited
from backend.services.qr import rendering as qr_rendering

RETRY_AFTER_S = 30


class QrExportBusy(RateLimited):
    code = "qr-export-busy"
    title = "An export of this brand is being rendered"


class QrExportCache:
    """Finished exports on disk (one file per campaign's codes) and the brands rendering one right now."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.renders = 0  # codes rendered by this cache (a second export of a campaign renders none)
        self._busy: set[int] = set()
        self._lock = threading.Lock()

    def path(self, campaign: QrCampaign, ring: codec.QrKeyring) -> Path:
        # NOTE: the name covers everything a code is made of, so a changed campaign or key never hits a stale file.
        signing_key = qr_rendering.signing_key(ring, campaign)
        made_of = f"{campaign.id}:{campaign.code_count}:{qr_rendering.expires_at(campaign)}:{campaign.key_id}"
        digest = hashlib.sha256(made_of.encode() + signing_key).hexdigest()[:32]
        return self.directory / f"campaign-{campaign.id}-{digest}.zip"

    def cached(self, campaign: QrCampaign, ring: codec.QrKeyring) -> Path | None:
        path = self.path(campaign, ring)
        return path if path.exists() else None

    def render(self, campaign: QrCampaign, ring: codec.QrKeyring) -> Iterator[bytes]:
        """Claim the brand's export slot (or refuse with 429) and stream the zip while writing it to the cache."""
        with self._lock:
            if campaign.brand_id in self._busy:
                raise QrExportBusy(
                    f"brand {campaign.brand_id} is rendering an export already; retry when it has finished",
                    headers={"Retry-After": RETRY_AFTER_S},
                )
            self._busy.add(campaign.brand_id)
        try:
            target = self.path(campaign, ring)
        except BaseException:
            self._release(campaign.brand_id)
            raise
        return self._stream(campaign, ring, target)

    def _stream(self, campaign: QrCampaign, ring: codec.QrKeyring, target: Path) -> Iterator[bytes]:
        partial = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.part")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with partial.open("wb") as out:
                for chunk in qr_rendering.export_zip(campaign, ring, on_render=self._count):
                    out.write(chunk)
                    yield chunk
            partial.replace(target)  # atomic: a reader sees the whole file or none
        finally:
            partial.unlink(missing_ok=True)
            self._release(campaign.brand_id)

    def _count(self) -> None:
        self.renders += 1

    def _release(self, brand_id: int) -> None:
        with self._lock:
            self._busy.discard(brand_id)


_caches: dict[Path, QrExportCache] = {}
_caches_lock = threading.Lock()


def export_cache(directory: Path) -> QrExportCache:
    """The process' cache for a directory (its busy set must be shared by every request of the process)."""
    with _caches_lock:
        return _caches.setdefault(directory.resolve(), QrExportCache(directory.resolve()))
