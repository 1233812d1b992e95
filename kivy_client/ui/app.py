"""The Kivy app: a status bar that is always visible above a ScreenManager of the screens.

``run(server_url)`` is what ``ruhu client --server URL`` calls.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.metrics import dp
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button
from kivy.uix.label import Label
from kivy.uix.popup import Popup
from kivy.uix.screenmanager import NoTransition, ScreenManager

from sync_protocol.explain import CLERK

from ..store import Store
from . import theme
from .presenters import Presenters

STATUS_INTERVAL_S = 2.0


class RuhuApp(App):
    title = "入户通"

    def __init__(self, presenters: Presenters, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.presenters = presenters
        self.worker: Any = None
        self.logout_popup: Popup | None = None
        self.draft_popup: Popup | None = None
        self.logout_after_sync = False
        self.notice_popup: Popup | None = None
        self.reference_popup: Popup | None = None

    # --- building -----------------------------------------------------------------------------

    def build(self) -> BoxLayout:
        theme.register_font()
        from kivy.core.window import Window
        from kivy.utils import platform

        from .screens import SCREENS

        if platform == "android":
            Window.softinput_mode = "below_target"  # the keyboard never hides the input
        Window.bind(on_keyboard=self._on_keyboard)
        from .widgets import StatusBar

        root = BoxLayout(orientation="vertical")
        self.status_bar = StatusBar(sync_action=self.start_sync, logout_action=self.logout,
                                    stop_action=self.stop_sync)
        self.manager = ScreenManager(transition=NoTransition())
        for name, cls in SCREENS:
            self.manager.add_widget(cls(name=name))
        root.add_widget(self.status_bar)
        root.add_widget(self.manager)
        self.manager.current = "roster" if self.presenters.signed_in else "login"
        self.presenters.ctx.changed = self.update_status  # 待上传 follows a save at once
        self.update_status()
        Clock.schedule_interval(lambda _dt: self.update_status(), STATUS_INTERVAL_S)
        return root

    def on_start(self) -> None:
        from .device import request_android_permissions

        request_android_permissions()

    # --- navigation ---------------------------------------------------------------------------

    BACK = {"household": "roster", "visit": "household", "wuqing": "household",
            "conflicts": "household"}

    def _on_keyboard(self, _window: Any, key: int, *_args: Any) -> bool:
        """Android's back button (Escape on a desktop) goes one screen back instead of quitting;
        on the roster and login screens it is left to the system."""
        if key != 27:
            return False
        return self.back()

    def back(self) -> bool:
        current = self.manager.current
        target = self.BACK.get(current)
        if target is None:
            return False
        household_id = getattr(self.manager.current_screen, "household_id", "")
        self.show(target, **({"household_id": household_id} if target == "household" else {}))
        return True

    def show(self, name: str, **params: Any) -> Any:
        """Open screen ``name`` with its properties set from ``params`` (e.g. household_id).

        Leaving a screen that holds unsaved input first asks (保存 / 放弃 / 继续编辑); the
        screen is then opened only once the input is saved or dropped (returns None meanwhile).
        """
        if self.guard_draft(lambda: self._show(name, **params)):
            return None
        return self._show(name, **params)

    def guard_draft(self, proceed: Any) -> bool:
        """When the current screen has unsaved input: ask, and run ``proceed`` once it is saved
        or dropped. True when the user was asked (``proceed`` did not run yet)."""
        if self.draft_popup is not None:
            return True  # already asking
        screen = self.manager.current_screen
        has_draft = getattr(screen, "has_draft", None)
        if has_draft is None or not has_draft():
            return False
        self.draft_popup = self._ask_draft(screen, proceed)
        return True

    def _ask_draft(self, screen: Any, proceed: Any) -> Popup:
        body = BoxLayout(orientation="vertical", spacing=dp(12), padding=dp(12))
        text = Label(text=f"{screen.draft_title()}有未保存的修改。\n"
                          "保存：存到本机后继续；放弃：不保存所填内容；继续编辑：留在本页。",
                     halign="left", valign="middle")
        text.bind(size=text.setter("text_size"))
        body.add_widget(text)
        row = BoxLayout(size_hint_y=None, height=dp(60), spacing=dp(12))
        save = Button(text="保存")
        discard = Button(text="放弃", background_color=theme.BAD)
        stay = Button(text="继续编辑", background_color=(0.5, 0.5, 0.5, 1))
        popup = Popup(title="有未保存的修改", content=body, size_hint=(0.6, 0.4),
                      title_size=dp(22), auto_dismiss=False)

        def close() -> None:
            popup.dismiss()
            self.draft_popup = None

        def do_save(*_a: Any) -> None:
            close()
            if screen.save_draft():
                proceed()

        def do_discard(*_a: Any) -> None:
            close()
            screen.discard_draft()
            proceed()

        save.bind(on_release=do_save)
        discard.bind(on_release=do_discard)
        stay.bind(on_release=lambda *_: close())
        for button in (save, discard, stay):
            row.add_widget(button)
        body.add_widget(row)
        popup.open()
        return popup

    def _show(self, name: str, **params: Any) -> Any:
        if self.manager.current == "login" and name != "login":
            self.status_bar.online_text = self.presenters.login.offline_notice
        screen = self.manager.get_screen(name)
        for key, value in params.items():
            setattr(screen, key, value)
        if self.manager.current == name:
            screen.refresh()
        else:
            self.manager.current = name
        self.update_status()
        return screen

    # --- status bar and sync ------------------------------------------------------------------

    def update_status(self) -> None:
        """The status bar; nobody signed in: no counts, no 立即同步 / 退出登录 (the login screen
        is not the place for them)."""
        bar = self.status_bar
        signed_in = self.presenters.signed_in
        bar.signed_in = signed_in
        bar.user_text = self.presenters.login.user_text()
        bar.sync_action = self.start_sync if signed_in else None
        bar.logout_action = self.logout if signed_in else None
        if not signed_in:
            return
        status = self.presenters.sync.status()
        bar.last_sync_text = status["last_sync_text"]
        bar.pending = status["pending"]
        bar.conflicts = status["conflicts"]
        bar.rejected = status["rejected"]

    def after_login(self) -> None:
        """Right after signing in: a tablet with no household yet syncs at once (the roster
        says it is downloading) when the server was reached."""
        if self.presenters.session.online and self.presenters.roster.is_empty():
            self.start_sync()
            self.manager.get_screen("roster").refresh()
        self.show_reference_notice()  # one a sync brought that was not seen before a restart

    def start_sync(self) -> bool:
        """Sync off the UI thread; progress and the result come back via ``Clock``."""
        if self.worker is not None and self.worker.running:
            return False
        bar = self.status_bar
        bar.syncing, bar.progress, bar.progress_text = True, 0, "准备同步…"
        bar.retrying = False
        self.presenters.ctx.syncing = True

        def progress(phase: str, done: int, total: int) -> None:
            Clock.schedule_once(lambda _dt: self._progress(phase, done, total))

        def finished(report: Any, error: Exception | None) -> None:
            Clock.schedule_once(lambda _dt: self._finished(report, error))

        def retrying(attempt: int, _wait: float) -> None:
            Clock.schedule_once(lambda _dt: self._retrying(attempt))

        self.worker = self.presenters.sync.sync_worker(progress, finished, retrying)
        return bool(self.worker.start())

    def _retrying(self, attempt: int) -> None:
        """The server does not answer: say so while the sync waits to retry (停止 ends it)."""
        bar = self.status_bar
        if bar.syncing:
            bar.retrying = True
            bar.progress_text = self.presenters.sync.retry_text(attempt)

    def stop_sync(self) -> None:
        self.presenters.sync.stop()
        self.status_bar.progress_text = "正在停止同步…"

    def _progress(self, phase: str, done: int, total: int) -> None:
        from ..sync import PHASE_LABELS

        weights = {"attachments": (0, 15), "push": (15, 45), "pull": (45, 100), "done": (100, 100)}
        low, high = weights.get(phase, (0, 100))
        share = done / total if total else 0.5
        self.status_bar.retrying = False
        self.status_bar.progress = low + (high - low) * min(share, 1.0)
        self.status_bar.progress_text = PHASE_LABELS.get(phase, phase)

    def _finished(self, report: Any, error: Exception | None) -> None:
        bar = self.status_bar
        bar.syncing = bar.retrying = False
        self.presenters.ctx.syncing = False
        if error is not None:
            bar.progress_text = ""
            bar.online_text = self.presenters.sync.sync_failed(error)
        else:
            bar.online_text = ""
            bits = []
            if report is not None and report.conflicts:
                bits.append(f"{report.conflicts} 条冲突待乡镇审核")
            if report is not None and report.rejected:
                bits.append(f"{report.rejected} 条被退回")
            bar.progress_text = "同步完成" + (f"（{'，'.join(bits)}）" if bits else "")
            notices = self.presenters.sync.lost_notices()
            if notices:
                self.notice_popup = self._notice(
                    "冲突处理结果", f"{CLERK}处理了您修改的数据冲突，以下修改未被采用：", notices)
        # also after a sync cut off later: the page that brought the change is stored
        self.show_reference_notice()
        self.update_status()
        screen = self.manager.current_screen
        if screen.name != "login":
            if getattr(screen, "has_draft", lambda: False)():
                # a sync never overwrites a form being edited: it is reloaded once saved
                bar.progress_text += "（正在填写的内容未被刷新，保存后显示最新数据）"
            else:
                screen.refresh()
        if self.logout_after_sync:
            self.logout_after_sync = False
            if error is None and self.presenters.sync.status()["pending"] == 0:
                self.logout()

    def show_reference_notice(self) -> None:
        """The county switched its 五清 template or changed its policy: say what changed, once.
        The notice stays due (in the store) until 知道了 is tapped, also across a restart."""
        if self.reference_popup is not None:
            return  # already open
        lines = self.presenters.sync.reference_notice()
        if not lines:
            return

        def seen() -> None:
            self.reference_popup = None
            self.presenters.sync.reference_notice_seen(lines)

        self.reference_popup = self._notice(
            "县级设置已更新", "县里更新了以下设置，本机已按新设置执行：", lines, seen)

    def _notice(self, title: str, intro: str, lines: list[str],
                on_seen: Any = None) -> Popup:
        """A notice told once after a sync (a conflict decided against this user's value, also
        kept in the household's 轨迹 tab; the county's new template or policy); 知道了 closes
        it and calls ``on_seen``."""
        body = BoxLayout(orientation="vertical", spacing=dp(12), padding=dp(12))
        text = Label(text=f"{intro}\n\n" + "\n".join(f"·{line}" for line in lines),
                     halign="left", valign="top")
        text.bind(size=text.setter("text_size"))
        body.add_widget(text)
        ok = Button(text="知道了", size_hint_y=None, height=dp(60))
        body.add_widget(ok)
        popup = Popup(title=title, content=body, size_hint=(0.75, 0.6),
                      title_size=dp(22), auto_dismiss=False)

        def close(*_a: Any) -> None:
            popup.dismiss()
            if on_seen is not None:
                on_seen()

        ok.bind(on_release=close)
        popup.open()
        return popup

    # --- logout -------------------------------------------------------------------------------

    def logout(self, force: bool = False, mode: str | None = None) -> Any:
        """Unsaved input on the screen is asked about first; then, with work not uploaded yet,
        a dialog says plainly what each choice does (nothing is deleted unless an export of
        it has been written and verified)."""
        if self.guard_draft(lambda: self.logout(force, mode)):
            return None
        result = self.presenters.login.logout(force=force, mode=mode)
        if not result.logged_out:
            if self.logout_popup is not None:
                self.logout_popup.dismiss()
            self.logout_popup = self._confirm_logout(result.warning or "",
                                                     failed=mode is not None or force)
            return result
        if self.logout_popup is not None:
            self.logout_popup.dismiss()
            self.logout_popup = None
        if result.exported_to:
            self.status_bar.online_text = (f"未上传的修改已导出并核对无误：{result.exported_to}。"
                                           "请交县级管理员在管理台导入。")
        elif result.kept:
            self.status_bar.online_text = ("未上传的修改保留在本机，"
                                           "请本人再次登录后同步。")
        self.show("login")
        return result

    def _confirm_logout(self, warning: str, failed: bool = False) -> Popup:
        body = BoxLayout(orientation="vertical", spacing=dp(12), padding=dp(12))
        text = Label(text=warning, halign="left", valign="top",
                     color=theme.BAD if failed else theme.TEXT)
        text.bind(size=text.setter("text_size"))
        body.add_widget(text)
        row = BoxLayout(size_hint_y=None, height=dp(60), spacing=dp(12))
        sync = Button(text="先同步")
        keep = Button(text="保留在本机并退出")
        export = Button(text="导出后清除", background_color=theme.BAD)
        cancel = Button(text="取消", background_color=(0.5, 0.5, 0.5, 1))
        popup = Popup(title="还有未上传的修改", content=body, size_hint=(0.8, 0.6),
                      title_size=dp(22), auto_dismiss=False)

        def first_sync(*_a: Any) -> None:
            popup.dismiss()
            self.logout_popup = None
            self.logout_after_sync = True  # logs out by itself once everything is uploaded
            self.start_sync()

        sync.bind(on_release=first_sync)
        keep.bind(on_release=lambda *_: self.logout(mode="keep"))
        export.bind(on_release=lambda *_: self.logout(mode="export"))
        def close(*_a: Any) -> None:
            popup.dismiss()
            self.logout_popup = None

        cancel.bind(on_release=close)
        for button in (sync, keep, export, cancel):
            row.add_widget(button)
        body.add_widget(row)
        popup.open()
        return popup


def data_dir(override: str | Path | None = None) -> Path:
    """Where the tablet keeps its database: ``override`` (``ruhu client --data-dir``), else
    ``RUHU_CLIENT_DIR``, else the user data directory (Android: app storage)."""
    if override:
        return Path(override)
    if os.environ.get("RUHU_CLIENT_DIR"):
        return Path(os.environ["RUHU_CLIENT_DIR"])
    from kivy.utils import platform

    if platform == "android":
        from android.storage import app_storage_path  # type: ignore[import-not-found]

        return Path(app_storage_path())
    import platformdirs

    return Path(platformdirs.user_data_dir("ruhu-client", "ruhu"))


def run(server_url: str, directory: str | Path | None = None) -> None:
    """Open the local store and start the app (blocks until the window closes)."""
    from kivy.config import Config
    from kivy.utils import platform

    if platform not in ("android", "ios"):
        Config.set("graphics", "width", "1280")
        Config.set("graphics", "height", "800")
    folder = data_dir(directory)
    folder.mkdir(parents=True, exist_ok=True)
    store = Store(folder / "ruhu.sqlite3")
    try:
        RuhuApp(Presenters(store, server_url)).run()
    finally:
        store.close()
