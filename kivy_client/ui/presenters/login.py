"""The login screen's presenter: online login, offline unlock (throttled), the device PIN."""

from __future__ import annotations

from sync_protocol.enums import LABELS, Role
from sync_protocol.errors import ErrorCode, RuhuError

from ...session import LogoutResult
from .base import Presenter


class LoginPresenter(Presenter):
    def known_usernames(self) -> list[str]:
        return [a.username for a in self.ctx.session.known_users()]

    @property
    def server_url(self) -> str:
        return self.ctx.server_url

    def login(self, server_url: str, username: str, password: str) -> str | None:
        """Online login (falls back to offline unlock without a signal); an error text or None.

        A wrong server address (no such name, nothing listening, not a ruhu server) is said as
        such, not taken for a missing signal. Blocking (network): called off the UI thread.
        """
        if not username or not password:
            return "请输入用户名和密码"
        self.ctx.use_server(server_url)
        try:
            self.ctx.session.login(username, password)
        except RuhuError as exc:
            return self._message(exc, username)
        return None

    def unlock(self, username: str, secret: str) -> str | None:
        """Offline unlock with the password or the device PIN; an error text or None. Wrong
        attempts in a row make the next one wait longer (``policy.unlock_delay_s``)."""
        if not username or not secret:
            return "请输入用户名和密码（或PIN码）"
        try:
            self.ctx.session.unlock(username, password=secret,
                                    pin=secret if secret.isdigit() else None)
        except RuhuError as exc:
            return self._message(exc, username)
        return None

    def _message(self, exc: RuhuError, username: str) -> str:
        wait = int(exc.extra.get("retry_after") or 0) if exc.extra else 0
        if exc.code == ErrorCode.client_unlock_throttled:
            return f"{exc.message}（还需等待 {wait} 秒）"
        if exc.code == ErrorCode.auth_invalid_credentials and wait:
            return f"{exc.message}。错误次数较多，请 {wait} 秒后再试"
        if exc.code in (ErrorCode.client_server_address_invalid, ErrorCode.client_server_refused,
                        ErrorCode.client_server_not_ruhu) and \
                username in self.known_usernames():
            return f"{exc.message}。没有信号时可点“离线解锁”"
        return exc.message

    def unlock_wait_s(self, username: str) -> int:
        return self.ctx.session.unlock_wait_s(username) if username else 0

    @property
    def offline_notice(self) -> str:
        """What the status bar says after signing in without reaching the server."""
        if self.ctx.signed_in and not self.ctx.session.online:
            return ("离线模式：未连接服务器，已用本机保存的密码登录；"
                    "修改保存在本机，联网后请点“立即同步”")
        return ""

    @property
    def signed_in(self) -> bool:
        return self.ctx.signed_in

    def user_text(self) -> str:
        account = self.ctx.session.account
        if account is None:
            return "未登录"
        return f"{account.name}（{LABELS[Role].get(account.role, account.role)}）"

    def set_pin(self, pin: str, again: str) -> str | None:
        """Set the device PIN (4-8 digits) for offline unlock; an error text or None."""
        if pin != again:
            return "两次输入的PIN码不一致"
        try:
            self.ctx.session.set_pin(pin)
        except RuhuError as exc:
            return exc.message
        return None

    @property
    def has_pin(self) -> bool:
        account = self.ctx.session.account
        return bool(account and account.has_pin)

    def logout(self, force: bool = False, mode: str | None = None) -> LogoutResult:
        return self.ctx.session.logout(force=force, mode=mode)
