"""Why the server could not be reached: no signal, or a wrong server address.

A cadre who typed the server address wrong must not be told "no signal" (and wait for one):
a name that does not exist (DNS "name not known"), an address where nothing answers (connection
refused), a malformed address, or a web server that is not ruhu's are told apart from a network
that is down (no route, DNS temporarily failing, timeouts). No Kivy here.
"""

from __future__ import annotations

import errno
import socket
from typing import Any

import httpx

from sync_protocol.errors import ErrorCode

# getaddrinfo errors that mean "this name does not exist" (not "cannot ask right now")
_NO_SUCH_NAME = {getattr(socket, "EAI_NONAME", -2)}
_NO_SIGNAL_TEXT = ("temporary failure in name resolution", "network is unreachable",
                   "no route to host", "timed out", "no address associated")


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in out:
        out.append(seen)
        seen = seen.__cause__ or seen.__context__
    return out


def classify(exc: BaseException) -> ErrorCode:
    """The error code of a failed connection: ``client.network_unavailable`` (no signal, try
    later), ``client.server_address_invalid`` (no such server name / malformed address) or
    ``client.server_refused`` (the address answers but nothing listens there)."""
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ErrorCode.client_server_address_invalid
    if isinstance(exc, httpx.TimeoutException):
        return ErrorCode.client_network_unavailable
    for cause in _chain(exc):
        if isinstance(cause, socket.gaierror) and cause.errno in _NO_SUCH_NAME:
            return ErrorCode.client_server_address_invalid
        if isinstance(cause, ConnectionRefusedError) or \
                getattr(cause, "errno", None) == errno.ECONNREFUSED:
            return ErrorCode.client_server_refused
    text = " ".join(str(c) for c in _chain(exc)).lower()
    if any(t in text for t in _NO_SIGNAL_TEXT):
        return ErrorCode.client_network_unavailable
    if "name or service not known" in text or "nodename nor servname" in text:
        return ErrorCode.client_server_address_invalid
    if "connection refused" in text:
        return ErrorCode.client_server_refused
    return ErrorCode.client_network_unavailable


def is_ruhu_answer(resp: httpx.Response) -> bool:
    """A ruhu server answers its API with JSON (a body, or ``{"error": {"code": ...}}``); an
    HTML page, a 404 of another web server or a captive portal is not ruhu's answer."""
    if "json" not in resp.headers.get("content-type", ""):
        return False
    try:
        body: Any = resp.json()
    except ValueError:
        return False
    if resp.status_code < 400:
        return isinstance(body, dict)
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and "code" in error
