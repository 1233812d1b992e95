"""Content coding of sync responses: ``Accept-Encoding`` negotiation and one-call compression.

The one home of the rule (docs/protocol.md, Transport): a response of at least 1 KiB goes out as
``zstd`` (RFC 8878 / RFC 9659) when the client allows it, else ``gzip`` when it allows that, else
as it is. Among allowed codings the client's highest ``q`` wins; on a tie zstd is preferred (it
is smaller and several times cheaper). ``q=0`` refuses a coding, ``*`` stands for every coding
not named. Without the ``zstandard`` package the server simply never offers zstd.

zstd frames carry their content size and use windows of at most the body's size (a page is well
under the 8 MB RFC 9659 lets a decoder refuse above), so no long-distance matching: it would
raise the window to 128 MB and, on measured pull pages, gains under 1 %.
"""

from __future__ import annotations

import zlib
from types import ModuleType
from typing import Literal

zstandard: ModuleType | None
try:
    import zstandard
except ImportError:  # pragma: no cover - the server depends on it; a bare install still works
    zstandard = None

Coding = Literal["zstd", "gzip"]

MIN_COMPRESS_BYTES = 1024
ZSTD_AVAILABLE = zstandard is not None
_PREFERENCE: tuple[Coding, ...] = ("zstd", "gzip")  # on equal q, the first


def _q(params: str) -> float:
    """The ``q`` of one element's parameters (1 when absent; a malformed one counts as 1, as
    the server always read it)."""
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "q":
            try:
                return min(1.0, max(0.0, float(value.strip())))
            except ValueError:
                return 1.0
    return 1.0


def weights(accept_encoding: str) -> dict[str, float]:
    """``Accept-Encoding`` as ``{coding: q}`` (lower-case names; ``x-gzip`` is gzip)."""
    out: dict[str, float] = {}
    for part in accept_encoding.split(","):
        name, _, params = part.strip().partition(";")
        name = name.strip().lower()
        if not name:
            continue
        if name == "x-gzip":
            name = "gzip"
        out[name] = _q(params)
    return out


def negotiate(accept_encoding: str, offer: tuple[Coding, ...] = _PREFERENCE) -> Coding | None:
    """The coding to answer with, from ``offer`` (in server preference), or None (identity)."""
    allowed = weights(accept_encoding)
    best: Coding | None = None
    best_q = 0.0
    for coding in offer:
        if coding == "zstd" and not ZSTD_AVAILABLE:
            continue
        q = allowed.get(coding, allowed.get("*", 0.0))
        if q > best_q:
            best, best_q = coding, q
    return best


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` header allows gzip (``gzip;q=0`` refuses it)."""
    return negotiate(accept_encoding, ("gzip",)) == "gzip"


def gzip_body(body: bytes, level: int) -> bytes:
    """One gzip member in one call (Starlette's middleware streams it in pieces, which costs
    more)."""
    deflate = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return deflate.compress(body) + deflate.flush()


def zstd_body(body: bytes, level: int) -> bytes:
    """One zstd frame (content size in the header, window no larger than the body)."""
    assert zstandard is not None
    return zstandard.ZstdCompressor(level=level).compress(body)


def encode(body: bytes, accept_encoding: str, levels: dict[Coding, int]
           ) -> tuple[bytes, Coding | None]:
    """``body`` in the negotiated coding (at ``levels[coding]``) and that coding; small bodies
    (under 1 KiB) and clients that allow neither go as they are."""
    if len(body) < MIN_COMPRESS_BYTES:
        return body, None
    coding = negotiate(accept_encoding, tuple(c for c in _PREFERENCE if c in levels))
    if coding == "zstd":
        return zstd_body(body, levels["zstd"]), coding
    if coding == "gzip":
        return gzip_body(body, levels["gzip"]), coding
    return body, None
