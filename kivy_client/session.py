"""Login on the tablet: first login online, then offline unlock with the password or a PIN.

Only a salted scrypt verifier of the password (and of the PIN) is kept on the device, never the
password. The access token is renewed whenever the user unlocks with the password while the
server is reachable. Logging out with unsynced work is refused unless forced, and a forced
logout first exports the outbox to a file. Logging out also asks the server to revoke the token
when it is reachable; offline the logout is local only.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from sync_protocol import PROTOCOL_VERSION
from sync_protocol.errors import ErrorCode, RuhuError
from sync_protocol.policy import china_now, unlock_delay_s
from sync_protocol.wire import APP_VERSION_HEADER, PROTOCOL_HEADER, TokenResponse

from . import APP_VERSION, netcheck
from .store import Store

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_PIN_RE = re.compile(r"^\d{4,8}$")
_TOKEN_MARGIN_S = 300
_RENEW_WITHIN_S = 6 * 3600  # a sync renews the token once less than 6 hours are left
_LOGOUT_TIMEOUT_S = 5.0  # logging out must not hang on a poor connection


def make_verifier(secret: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P,
                            dklen=32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${salt.hex()}${digest.hex()}"


def check_verifier(verifier: str | None, secret: str) -> bool:
    if not verifier:
        return False
    try:
        kind, n, r, p, salt, digest = verifier.split("$")
        if kind != "scrypt":
            return False
        got = hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                             p=int(p), dklen=len(bytes.fromhex(digest)))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


@dataclass
class Account:
    username: str
    user_id: str
    name: str
    role: str
    scopes: list[str]
    has_pin: bool
    token: str | None
    token_expires_at: float | None

    @property
    def token_valid(self) -> bool:
        return bool(self.token) and (self.token_expires_at or 0) > time.time() + _TOKEN_MARGIN_S


@dataclass
class LogoutResult:
    logged_out: bool
    warning: str | None = None
    pending: int = 0
    exported_to: Path | None = None
    kept: bool = False  # signed out with un-uploaded work left on the tablet


def logout_warning(pending: int) -> str:
    """What the logout dialog says when work is not uploaded yet (plain words, no jargon)."""
    return (f"本机还有 {pending} 条修改或照片没有上传到服务器。\n"
            "①先同步：联网上传后再退出（推荐）。\n"
            "②保留在本机并退出：数据留在这台平板上，只有您本人再次登录后才能继续上传，"
            "其他账号无法在本机登录。\n"
            "③导出后清除：把未上传的修改写成文件并核对无误后，才清除本机数据；"
            "请把文件交给县级管理员在管理台“数据导入”中上传。核对不通过时不会删除任何数据。")


EXPORT_FAILED = "导出未成功（{reason}），本机数据没有删除，您仍处于登录状态。"


class Session:
    """The signed-in user of one tablet (one ``Store``)."""

    def __init__(self, store: Store, base_url: str | None = None, *,
                 client: httpx.Client | None = None,
                 transport: httpx.BaseTransport | None = None,
                 app_version: str = APP_VERSION, timeout: float = 20.0) -> None:
        self.store = store
        self.http = client or httpx.Client(base_url=base_url or "", transport=transport,
                                           timeout=timeout)
        self.app_version = app_version
        self.account: Account | None = None
        self.online = False

    # --- signing in ---------------------------------------------------------------------------

    def login(self, username: str, password: str) -> Account:
        """Sign in: online when the server answers (refreshing token and verifier), otherwise
        offline against the stored verifier. A wrong password is refused in both cases."""
        try:
            return self.login_online(username, password)
        except RuhuError as exc:
            if exc.code != ErrorCode.client_network_unavailable:
                raise
        return self.unlock(username, password=password)

    def login_online(self, username: str, password: str) -> Account:
        try:
            resp = self.http.post(
                "/api/v1/auth/token",
                data={"username": username, "password": password,
                      "device_id": self.store.device_id, "app_version": self.app_version},
                headers={PROTOCOL_HEADER: str(PROTOCOL_VERSION),
                         APP_VERSION_HEADER: self.app_version},
            )
        except httpx.TransportError as exc:
            self.online = False
            # no signal (try offline) or a wrong server address (say so, do not wait for signal)
            raise RuhuError(netcheck.classify(exc), status_code=0) from exc
        if resp.status_code >= 500:  # the server (or the proxy before it) is down: try later
            self.online = False
            raise RuhuError(ErrorCode.client_network_unavailable, status_code=0)
        if not netcheck.is_ruhu_answer(resp):
            self.online = False
            raise RuhuError(ErrorCode.client_server_not_ruhu, status_code=0)
        if resp.status_code != 200:
            error = _server_error(resp)
            if error.code in (ErrorCode.auth_user_disabled, ErrorCode.auth_device_revoked):
                # the county admin stopped this account or tablet: no more offline unlock either
                with self.store.transaction() as c:
                    c.execute("DELETE FROM accounts WHERE username = ?", (username,))
                self.account = None
            raise error
        self.online = True
        token = TokenResponse.model_validate(resp.json())
        with self.store.transaction() as c:
            owner = self.store.get_meta("data_owner")
            if owner and owner != token.user.id:
                # another user's records are on this tablet: never mix or silently drop them
                if self.store.has_unsynced_work():
                    raise RuhuError(ErrorCode.client_unsynced_work, status_code=409)
                self.store.wipe()
            self.store.set_meta("data_owner", token.user.id)
            old = c.execute("SELECT pin_verifier, user_id FROM accounts WHERE username = ?",
                            (username,)).fetchone()
            pin = old["pin_verifier"] if old is not None and old["user_id"] == token.user.id \
                else None
            c.execute(
                "INSERT OR REPLACE INTO accounts (username, user_id, name, role, scopes, verifier,"
                " pin_verifier, token, token_expires_at, last_login_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (username, token.user.id, token.user.name, token.user.role,
                 json.dumps(token.user.scopes), make_verifier(password), pin,
                 token.access_token, time.time() + token.expires_in, _now()),
            )
            self.store.set_current_user(token.user.id, token.user.name, token.user.scopes,
                                        token.user.role)
        account = self._load(username)
        assert account is not None
        self.account = account
        self.store.set_meta(_failures_key(username), None)
        return account

    def unlock(self, username: str, *, password: str | None = None,
               pin: str | None = None) -> Account:
        """Offline unlock with the password or the device PIN of a user who logged in before."""
        account = self._load(username)
        if account is None:
            raise RuhuError(ErrorCode.client_offline_unknown_user, status_code=401)
        wait = self.unlock_wait_s(username)
        if wait > 0:
            raise RuhuError(ErrorCode.client_unlock_throttled, status_code=429,
                            extra={"retry_after": wait})
        row = self.store.query("SELECT verifier, pin_verifier FROM accounts"
                               " WHERE username = ?", (username,))[0]
        ok = (password is not None and check_verifier(row["verifier"], password)) or \
             (pin is not None and check_verifier(row["pin_verifier"], pin))
        key = _failures_key(username)
        if not ok:
            failures = self._failures(username)[0] + 1
            self.store.set_meta(key, json.dumps([failures, time.time()]))
            raise RuhuError(ErrorCode.auth_invalid_credentials, status_code=401,
                            extra={"retry_after": unlock_delay_s(failures)})
        self.store.set_meta(key, None)
        self.store.set_current_user(account.user_id, account.name, account.scopes,
                                        account.role)
        self.account = account
        return account

    def _failures(self, username: str) -> tuple[int, float]:
        raw = self.store.get_meta(_failures_key(username))
        try:
            count, at = json.loads(raw) if raw else (0, 0.0)
            return int(count), float(at)
        except (ValueError, TypeError):
            return 0, 0.0

    def unlock_wait_s(self, username: str) -> int:
        """Seconds until the next offline unlock attempt is allowed (0: now). Wrong passwords
        and PINs in a row make it grow (``sync_protocol.policy.unlock_delay_s``); it survives
        a restart of the app (kept in the store)."""
        failures, at = self._failures(username)
        left = at + unlock_delay_s(failures) - time.time()
        return max(0, int(left + 0.999))

    def set_pin(self, pin: str) -> None:
        """Set the device PIN (4-8 digits) of the signed-in user."""
        if self.account is None:
            raise RuhuError(ErrorCode.auth_not_authenticated, status_code=401)
        if not _PIN_RE.match(pin or ""):
            raise RuhuError(ErrorCode.client_pin_invalid, status_code=422)
        with self.store.transaction() as c:
            c.execute("UPDATE accounts SET pin_verifier = ? WHERE username = ?",
                      (make_verifier(pin), self.account.username))
        self.account = self._load(self.account.username)

    def known_users(self) -> list[Account]:
        """Users who logged in on this tablet before (for the unlock screen)."""
        rows = self.store.query("SELECT username FROM accounts ORDER BY last_login_at DESC")
        return [a for a in (self._load(r["username"]) for r in rows) if a]

    # --- the token ----------------------------------------------------------------------------

    @property
    def token(self) -> str | None:
        """The access token for sync (None when it expired: unlock with the password online)."""
        if self.account is None:
            return None
        return self.account.token if self.account.token_valid else None

    @property
    def needs_online_login(self) -> bool:
        return self.account is None or not self.account.token_valid

    def refresh(self, password: str) -> Account:
        """Renew the token when online (the password is needed: it is never stored)."""
        if self.account is None:
            raise RuhuError(ErrorCode.auth_not_authenticated, status_code=401)
        return self.login_online(self.account.username, password)

    def renew_if_due(self, within_s: float = _RENEW_WITHIN_S) -> bool:
        """Renew a still-valid token that expires within ``within_s`` (``POST
        /api/v1/auth/refresh``, no password needed), so a cadre who syncs now and then never has
        to log in online again. Best effort: offline or refused, the old token stays until it
        lapses (then the password is needed once online). True when renewed."""
        account = self.account
        if account is None or not account.token_valid or \
                (account.token_expires_at or 0) > time.time() + within_s:
            return False
        try:
            resp = self.http.post("/api/v1/auth/refresh",
                                  headers={"Authorization": f"Bearer {account.token}",
                                           PROTOCOL_HEADER: str(PROTOCOL_VERSION),
                                           APP_VERSION_HEADER: self.app_version})
        except httpx.HTTPError:
            return False
        if resp.status_code != 200:
            return False
        token = TokenResponse.model_validate(resp.json())
        with self.store.transaction() as c:
            c.execute("UPDATE accounts SET token = ?, token_expires_at = ? WHERE username = ?",
                      (token.access_token, time.time() + token.expires_in, account.username))
        self.account = self._load(account.username)
        return True

    def invalidate_token(self) -> None:
        """After a 401 from the server: forget the token, keep offline unlock."""
        if self.account is None:
            return
        with self.store.transaction() as c:
            c.execute("UPDATE accounts SET token = NULL, token_expires_at = NULL"
                      " WHERE username = ?", (self.account.username,))
        self.account = self._load(self.account.username)

    def download_attachment(self, sha256: str) -> tuple[bytes, str]:
        """A photo or scan from the server (e.g. taken on another tablet), with its MIME type.
        Raises ``RuhuError`` without a signal, a valid token, or access to it."""
        token = self.token
        if token is None:
            raise RuhuError(ErrorCode.auth_token_expired, status_code=401)
        try:
            resp = self.http.get(f"/api/v1/attachments/{sha256}",
                                 headers={"Authorization": f"Bearer {token}",
                                          PROTOCOL_HEADER: str(PROTOCOL_VERSION),
                                          APP_VERSION_HEADER: self.app_version})
        except httpx.TransportError as exc:
            raise RuhuError(netcheck.classify(exc), status_code=0) from exc
        if resp.status_code != 200:
            raise _server_error(resp)
        return resp.content, resp.headers.get("content-type", "application/octet-stream")

    # --- signing out --------------------------------------------------------------------------

    def logout(self, *, force: bool = False, mode: str | None = None,
               export_dir: str | Path | None = None) -> LogoutResult:
        """Sign out. Un-uploaded work is never deleted unless an export of it has been written
        and verified (read back, parsed, count and checksum equal to the outbox).

        Without unsynced work the data stay for the next unlock. With unsynced work, and no
        ``mode``: refused with a warning that says what each choice does. ``mode="keep"``: sign
        out and keep everything on the tablet (only the same account can sign in again and
        upload it). ``mode="export"`` (or ``force``): export to ``export_dir`` (default: beside
        the DB), verify, then clear the tablet; a failed verification keeps everything and stays
        signed in.
        """
        mode = mode or ("export" if force else None)
        pending = self.store.pending_count() + len(self.store.pending_attachments())
        if pending and mode not in ("keep", "export"):
            return LogoutResult(False, logout_warning(pending), pending)
        exported = None
        if pending and mode == "export":
            folder = Path(export_dir) if export_dir else Path(self.store.path).resolve().parent
            stamp = china_now().strftime("%Y%m%d-%H%M%S")
            target = folder / f"ruhu-unsynced-{self.store.device_id}-{stamp}.json"
            username = self.account.username if self.account else ""
            user_id = self.account.user_id if self.account else None
            try:
                folder.mkdir(parents=True, exist_ok=True)
                exported = self.store.export_outbox(target, user_id=user_id, username=username)
            except OSError as exc:
                return LogoutResult(False, EXPORT_FAILED.format(reason=exc.strerror or exc),
                                    pending)
            if not self.store.verify_export(exported):
                return LogoutResult(False, EXPORT_FAILED.format(reason="文件读回校验不一致"),
                                    pending, exported)
            self.store.wipe()
        if self.account is not None:
            self._revoke_online(self.account.token)
            with self.store.transaction() as c:
                c.execute("UPDATE accounts SET token = NULL, token_expires_at = NULL"
                          " WHERE username = ?", (self.account.username,))
        self.store.set_current_user(None)
        self.account = None
        return LogoutResult(True, None, pending, exported,
                            kept=bool(pending) and mode == "keep")

    # --- internals ----------------------------------------------------------------------------

    def _revoke_online(self, token: str | None) -> None:
        """Best effort: ask the server to revoke the token, so a copy of it is useless. Offline,
        or on any error, the logout still happens locally (the token then lapses at expiry)."""
        if not token:
            return
        try:
            self.http.post("/api/v1/auth/logout", timeout=_LOGOUT_TIMEOUT_S,
                           headers={"Authorization": f"Bearer {token}",
                                    PROTOCOL_HEADER: str(PROTOCOL_VERSION),
                                    APP_VERSION_HEADER: self.app_version})
        except httpx.HTTPError:
            self.online = False

    def _load(self, username: str) -> Account | None:
        rows = self.store.query("SELECT * FROM accounts WHERE username = ?", (username,))
        if not rows:
            return None
        row = rows[0]
        return Account(
            username=row["username"], user_id=row["user_id"], name=row["name"], role=row["role"],
            scopes=json.loads(row["scopes"]), has_pin=bool(row["pin_verifier"]),
            token=row["token"], token_expires_at=row["token_expires_at"],
        )


def _failures_key(username: str) -> str:
    return f"unlock_failures:{username}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _server_error(resp: httpx.Response) -> RuhuError:
    try:
        body: dict[str, Any] = resp.json().get("error") or {}
        code = ErrorCode(str(body.get("code")))
    except (ValueError, AttributeError):
        return RuhuError(ErrorCode.auth_invalid_credentials, status_code=resp.status_code)
    return RuhuError(code, str(body.get("message") or ""), resp.status_code)
