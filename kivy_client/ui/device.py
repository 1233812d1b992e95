"""What the device captures itself: location (plyer GPS) and photos (plyer camera).

Where plyer has no implementation (desktop, tests) location is simply *not captured* — a visit is
then marked 未采集定位; coordinates are never typed by hand. Photos fall back to a file chooser.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kivy.clock import Clock
from kivy.logger import Logger

LocationCallback = Callable[[float | None, float | None, str], None]


class Locator:
    """Starts GPS once, reports the first fix (or why there is none) on the UI thread."""

    def __init__(self) -> None:
        self._gps = None
        self._callback: LocationCallback | None = None

    def start(self, callback: LocationCallback) -> None:
        self._callback = callback
        try:
            from plyer import gps

            gps.configure(on_location=self._on_location, on_status=self._on_status)
            gps.start(minTime=1000, minDistance=0)
            self._gps = gps
            self._report(None, None, "正在定位…")
        except (ImportError, NotImplementedError, ModuleNotFoundError):
            self._report(None, None, "本设备不支持定位，未采集定位")
        except Exception as exc:  # plyer raises platform-specific errors
            Logger.warning("ruhu: GPS unavailable: %s", exc)
            self._report(None, None, "定位不可用，未采集定位")

    def stop(self) -> None:
        if self._gps is not None:
            try:
                self._gps.stop()
            except Exception as exc:
                Logger.warning("ruhu: GPS stop failed: %s", exc)
            self._gps = None

    def _on_location(self, **kwargs: float) -> None:
        lat, lng = kwargs.get("lat"), kwargs.get("lon")
        if lat is not None and lng is not None:
            self._report(float(lat), float(lng), "已采集定位")
            self.stop()

    def _on_status(self, stype: str, status: str) -> None:
        if "disabled" in str(status).lower():
            self._report(None, None, "定位已关闭，未采集定位")

    def _report(self, lat: float | None, lng: float | None, text: str) -> None:
        callback = self._callback
        if callback is not None:
            Clock.schedule_once(lambda _dt: callback(lat, lng, text), 0)


def request_android_permissions() -> None:
    """Ask for location and camera at start-up (Android 6+ grants them at run time)."""
    from kivy.utils import platform

    if platform != "android":
        return
    try:
        from android.permissions import Permission, request_permissions  # type: ignore

        request_permissions([Permission.ACCESS_FINE_LOCATION, Permission.ACCESS_COARSE_LOCATION,
                             Permission.CAMERA])
    except Exception as exc:  # the app still works: visits are then marked 未采集定位
        Logger.warning("ruhu: permission request failed: %s", exc)


def take_photo(on_done: Callable[[str | None], None]) -> bool:
    """Open the device camera; ``on_done(path)`` on the UI thread. False when there is none."""
    try:
        from plyer import camera

        path = str(Path(tempfile.gettempdir()) / f"ruhu-photo-{int(time.time() * 1000)}.jpg")

        def done(filename: str) -> bool:
            Clock.schedule_once(lambda _dt: on_done(filename if Path(filename).exists() else None))
            return False

        camera.take_picture(filename=path, on_complete=done)
        return True
    except (ImportError, NotImplementedError, ModuleNotFoundError):
        return False
    except Exception as exc:
        Logger.warning("ruhu: camera unavailable: %s", exc)
        return False
