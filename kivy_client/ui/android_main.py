"""Entry point of the Android build: copied to ``main.py`` of the staged source (docs/tablet.md).

The server address is typed on the login screen (and remembered); ``RUHU_SERVER`` pre-fills it.
"""

from __future__ import annotations

import os

from kivy_client.ui.app import run

if __name__ == "__main__":
    run(os.environ.get("RUHU_SERVER", ""))
