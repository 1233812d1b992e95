"""Rebuild the bundled Chinese font subset (run by hand; the result is committed).

    python -m kivy_client.ui.fonts.build_font [path/to/NotoSansCJK-Regular.ttc]

Takes Noto Sans CJK SC Regular (SIL OFL 1.1) and keeps ASCII, Latin-1, general and CJK
punctuation, full-width forms, every GB2312 character (both hanzi levels and its symbols) and every
character used in the UI strings and in ``sync_protocol`` labels and messages. Needs ``fonttools``
(dev extra). Debian ships the source font in ``fonts-noto-cjk``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "NotoSansSC-Regular-subset.otf"
DEFAULT_SOURCE = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
SC_INDEX = 2  # Noto Sans CJK SC inside the collection


def gb2312_chars() -> set[str]:
    chars: set[str] = set()
    for hi in range(0xA1, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.add(bytes((hi, lo)).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    return chars


def source_chars() -> set[str]:
    root = HERE.parents[2]
    chars: set[str] = set()
    for folder in (root / "kivy_client", root / "sync_protocol"):
        for path in folder.rglob("*"):
            if path.suffix in (".py", ".kv") and path.is_file():
                chars |= set(path.read_text(encoding="utf-8"))
    return {c for c in chars if ord(c) >= 0x80}


def wanted() -> set[str]:
    ranges = [(0x20, 0x7E), (0xA0, 0xFF), (0x2010, 0x206F), (0x2190, 0x21FF), (0x2700, 0x27BF),
              (0x2460, 0x24FF),
              (0x2500, 0x25FF), (0x3000, 0x303F), (0xFF00, 0xFFEF)]
    chars = {chr(c) for lo, hi in ranges for c in range(lo, hi + 1)}
    return chars | gb2312_chars() | source_chars()


def main(source: str = DEFAULT_SOURCE) -> None:
    from fontTools import subset
    from fontTools.ttLib import TTFont

    font = TTFont(source, fontNumber=SC_INDEX)
    options = subset.Options()
    options.layout_features = []  # SDL2_ttf draws glyphs by cmap only
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.hinting = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(sorted(wanted())))
    subsetter.subset(font)
    font.save(str(OUT))
    size = OUT.stat().st_size / 1024 / 1024
    print(f"{OUT.name}: {size:.2f} MiB, {len(font.getGlyphOrder())} glyphs")


if __name__ == "__main__":
    main(*sys.argv[1:])
