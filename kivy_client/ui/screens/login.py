"""Login (online, first time) and offline unlock (password or PIN) for an account seen before."""

from __future__ import annotations

import threading

from kivy.app import App
from kivy.clock import Clock
from kivy.properties import BooleanProperty, ListProperty, StringProperty

from .base import BaseScreen, load_kv

load_kv(__file__)


class LoginScreen(BaseScreen):
    presenter_name = "login"
    server_url = StringProperty("")
    message = StringProperty("")
    known_users = ListProperty([])
    busy = BooleanProperty(False)

    def refresh(self) -> None:
        self.server_url = self.server_url or self.presenter.server_url
        self.known_users = self.presenter.known_usernames()
        if self.known_users and not self.ids.username.text:
            self.ids.username.text = self.known_users[0]
        self.message = ""

    def login(self) -> None:
        """Online login; needs a signal once per user and device."""
        username, secret = self.ids.username.text.strip(), self.ids.password.text
        self.busy = True
        self.message = "正在连接服务器…"

        def done(error: str | None) -> None:
            self.busy = False
            self.message = error or ""
            if error is None:
                self.ids.password.text = ""
                self.go("roster")
                App.get_running_app().after_login()

        server = self.ids.server.text.strip()

        def work() -> None:
            error = self.presenter.login(server, username, secret)
            Clock.schedule_once(lambda _dt: done(error))

        threading.Thread(target=work, name="ruhu-login", daemon=True).start()

    def unlock(self) -> None:
        """Offline: checks the password (or PIN) against what this device stored at login."""
        username, secret = self.ids.username.text.strip(), self.ids.password.text
        error = self.presenter.unlock(username, secret)
        self.message = error or ""
        if error is None:
            self.ids.password.text = ""
            self.go("roster")
            App.get_running_app().after_login()
