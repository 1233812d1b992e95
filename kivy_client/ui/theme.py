"""Font, colours and sizes shared by every screen (10-inch tablet, touch targets ≥ 48 dp)."""

from __future__ import annotations

from pathlib import Path

FONT_PATH = Path(__file__).resolve().parent / "fonts" / "NotoSansSC-Regular-subset.otf"
FONT_NAME = "NotoSansSC"

# RGBA
PRIMARY = (0.76, 0.11, 0.13, 1)  # 党建红
PRIMARY_DARK = (0.58, 0.07, 0.09, 1)
BACKGROUND = (0.97, 0.96, 0.94, 1)
SURFACE = (1, 1, 1, 1)
TEXT = (0.13, 0.13, 0.13, 1)
MUTED = (0.42, 0.42, 0.42, 1)
OK = (0.16, 0.55, 0.24, 1)
WARN = (0.85, 0.53, 0.05, 1)
BAD = (0.80, 0.15, 0.15, 1)
INFO = (0.15, 0.40, 0.75, 1)

BADGE_COLOURS = {
    "synced": OK,
    "pending": WARN,
    "uploading": INFO,
    "conflict": BAD,
    "rejected": BAD,
}


def register_font() -> None:
    """Make the bundled Noto Sans SC subset the default font of every widget.

    Registered under Kivy's default font name too, so Labels, TextInputs and Spinners that never
    name a font still draw Chinese instead of tofu boxes.
    """
    from kivy.core.text import DEFAULT_FONT, LabelBase

    path = str(FONT_PATH)
    LabelBase.register(FONT_NAME, path)
    LabelBase.register(DEFAULT_FONT, path, path, path, path)
