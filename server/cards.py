"""The printed 明白卡 (一户一档) as a PDF: one household, or every household of a village in one
file. What a card says is ``sync_protocol.card``; this module loads the households in one query
per table and lays the cards out on A4 with fpdf2, a Chinese font embedded (subset)."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from urllib.parse import quote

import sqlalchemy as sa
from fastapi.responses import Response
from fpdf import FPDF
from fpdf.enums import RenderStyle
from sqlmodel import Session

from server.audit import audit
from server.db.tables import Household, Region
from server.queries.bundles import load_bundles
from server.scope import Principal
from sync_protocol.card import SUBTITLE, TITLE, Card, CardTable, build_card
from sync_protocol.errors import ErrorCode, RuhuError
from sync_protocol.policy import china_today
from sync_protocol.validation import is_region_code, region_level

# Debian's fonts-noto-cjk (installed by .ci/run and docs/operations.md); the tablet's own subset
# as a last resort (it lacks rare characters of names)
FONT_CANDIDATES = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf"),
    Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"),
    Path(__file__).resolve().parents[1] / "kivy_client/ui/fonts/NotoSansSC-Regular-subset.otf",
)
FONT = "cjk"
MAX_HOUSEHOLDS = 2000  # one village's batch; more is a typo or a county, printed by village


@functools.cache
def card_font() -> tuple[str, int]:
    """The first Chinese font found, and the index of its Simplified Chinese face when it is a
    collection (.ttc)."""
    for path in FONT_CANDIDATES:
        if path.is_file():
            return str(path), _sc_index(path)
    raise RuhuError(ErrorCode.card_font_missing, status_code=503)


def _sc_index(path: Path) -> int:
    if path.suffix.lower() != ".ttc":
        return 0
    from fontTools.ttLib import TTCollection

    with TTCollection(str(path), lazy=True) as fonts:
        for i, font in enumerate(fonts):
            if "SC" in str(font["name"].getDebugName(1) or "").split():
                return i
    return 0


class _CardPdf(FPDF):
    def __init__(self) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        path, index = card_font()
        self.add_font(FONT, fname=path, collection_font_number=index)
        self.set_auto_page_break(auto=True, margin=16)
        self.set_margins(15, 14, 15)
        self.set_creator("入户通")
        self.set_title("防止返贫监测帮扶明白卡")
        self.footer_text = ""
        # a village's cards repeat most texts (labels, column titles, 男/女, 0.00 ...): each width
        # and each line break is measured once per font size (fpdf2's measuring is most of the
        # cost of a card; docs/performance.md, Reports)
        self._widths: dict[tuple[float, str], float] = {}
        self._wraps: dict[tuple[float, str, float], list[str]] = {}

    def width_of(self, text: str) -> float:
        """``get_string_width`` of the current font size, remembered."""
        key = (self.font_size_pt, text)
        width = self._widths.get(key)
        if width is None:
            width = self._widths[key] = self.get_string_width(text)
        return width

    def wrap(self, text: str, width: float) -> list[str]:
        """``_wrap`` at the current font size, remembered."""
        key = (self.font_size_pt, text, width)
        lines = self._wraps.get(key)
        if lines is None:
            lines = self._wraps[key] = _wrap(self, text, width)
        return lines

    def footer(self) -> None:
        self.set_y(-11)
        self.set_font(FONT, size=8)
        self.set_text_color(110)
        self.cell(0, 5, f"{self.footer_text}    第 {self.page_no()} 页", align="C")
        self.set_text_color(0)


LINE = 5.5  # mm per text line in tables
PAD = 1.2  # mm of padding left and right in a cell
LABEL_FILL = (240, 240, 240)
HEAD_FILL = (225, 233, 245)


def _wrap(pdf: _CardPdf, text: str, width: float) -> list[str]:
    """``text`` broken into lines that fit ``width`` (any character may end a line: Chinese);
    through ``_CardPdf.wrap``, which remembers it."""
    room = width - 2 * PAD
    if pdf.width_of(text) <= room:
        return [text]
    lines, line = [], ""
    for ch in text:
        if line and pdf.get_string_width(line + ch) > room:
            lines.append(line)
            line = ""
        line += ch
    return [*lines, line]


def _line(pdf: _CardPdf, x: float, y: float, width: float, text: str, align: str) -> None:
    """One line of a table cell, placed exactly where ``pdf.cell(width, LINE, text, align)`` at
    (x, y) would put it (left: after fpdf2's cell margin ``c_margin``; centred: in the middle;
    baseline: half a line plus 0.3 of the font size down, fpdf2's own rule), written with
    fpdf2's low-level ``text()``. ``cell()`` costs five times as much (markdown, bidi and
    graphics-state copies per call) and a card has ~120 such lines; tests/reports/test_cards.py
    checks the placement against ``cell()``."""
    if not text:
        return
    dx = (width - pdf.width_of(text)) / 2 if align == "C" else pdf.c_margin
    pdf.text(x + dx, y + 0.5 * LINE + 0.3 * pdf.font_size, text)


def _row(pdf: _CardPdf, cells: Sequence[str], widths: Sequence[float],
         fills: Sequence[tuple[int, int, int] | None], align: str = "C",
         header: Callable[[], None] | None = None) -> None:
    """One bordered table row, as tall as its longest cell; a new page first when it would not
    fit (``header`` then repeats the column titles)."""
    wrapped = [pdf.wrap(text, w) for text, w in zip(cells, widths, strict=True)]
    height = max(len(lines) for lines in wrapped) * LINE
    if pdf.get_y() + height > pdf.page_break_trigger:
        pdf.add_page()
        if header is not None:
            header()
    x, y = pdf.l_margin, pdf.get_y()
    for lines, w, fill in zip(wrapped, widths, fills, strict=True):
        if fill is not None:
            pdf.set_fill_color(*fill)
        pdf.rect(x, y, w, height, style=RenderStyle.DF if fill is not None else RenderStyle.D)
        top = y + (height - len(lines) * LINE) / 2
        for i, line in enumerate(lines):
            _line(pdf, x + PAD, top + i * LINE, w - 2 * PAD, line,
                  align if len(lines) == 1 else "L")
        x += w
    pdf.set_xy(pdf.l_margin, y + height)


def _table(pdf: _CardPdf, table: CardTable) -> None:
    width = pdf.w - pdf.l_margin - pdf.r_margin
    weights = [max(2.0, pdf.width_of(c) / 3.5) for c in table.columns]
    for r in table.rows:
        for i, text in enumerate(r):
            weights[i] = max(weights[i], min(pdf.width_of(text) / 3.5, 12.0))
    widths = [width * w / sum(weights) for w in weights]

    def header() -> None:
        _row(pdf, table.columns, widths, [HEAD_FILL] * len(widths))

    header()
    for cells in table.rows or [[table.empty] + [""] * (len(table.columns) - 1)]:
        _row(pdf, cells, widths, [None] * len(widths), header=header)


def _card(pdf: _CardPdf, card: Card) -> None:
    pdf.footer_text = f"打印日期：{card.printed_on}"
    pdf.add_page()
    pdf.set_font(FONT, size=18)
    pdf.cell(0, 10, f"{TITLE}（{SUBTITLE}）", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, size=10)
    pdf.cell(0, 6, card.heading, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    # the facts, two label/value pairs per row
    pdf.set_font(FONT, size=10)
    width = pdf.w - pdf.l_margin - pdf.r_margin
    widths = [width * share for share in (0.19, 0.31, 0.19, 0.31)]
    for i in range(0, len(card.facts), 2):
        pair = card.facts[i:i + 2] + ([("", "")] if i + 1 == len(card.facts) else [])
        _row(pdf, [text for fact in pair for text in fact], widths,
             [LABEL_FILL, None, LABEL_FILL, None], align="L")
    for t in card.tables:
        pdf.ln(3)
        pdf.set_font(FONT, size=12)
        pdf.cell(0, 7, t.title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FONT, size=9)
        _table(pdf, t)
    pdf.ln(8)
    pdf.set_font(FONT, size=11)
    if pdf.get_y() + 30 > pdf.page_break_trigger:
        pdf.add_page()
    third = width / len(card.signatures)
    for label in card.signatures:
        pdf.cell(third, 8, f"{label}：")
    pdf.ln(14)
    pdf.cell(0, 8, "日期：        年      月      日", align="R",
             new_x="LMARGIN", new_y="NEXT")


def render_pdf(cards: Sequence[Card]) -> bytes:
    """The cards, each from a new page, as one PDF."""
    pdf = _CardPdf()
    for card in cards:
        _card(pdf, card)
    if not cards:
        pdf.add_page()
        pdf.set_font(FONT, size=12)
        pdf.cell(0, 10, "没有可打印的农户。")
    return bytes(pdf.output())


def _region_names(session: Session, codes: Iterable[str]) -> dict[str, str]:
    wanted = set()
    for code in codes:
        wanted |= {code, code[:9] + "000", code[:6] + "000000"}
    rows = session.execute(sa.select(Region.code, Region.name)  # type: ignore[call-overload]
                           .where(Region.code.in_(sorted(wanted)))).all()  # type: ignore[attr-defined]
    return {code: name for code, name in rows}


def cards_for(session: Session, households: Sequence[Household],
              today: dt.date) -> list[Card]:
    """The cards of the households (in the given order), loaded in one query per table."""
    bundles = load_bundles(session, households)
    names = _region_names(session, {h.village_code for h in households})
    return [build_card(bundles[h.id], today, names) for h in households]


def village_households(session: Session, village_code: str) -> list[Household]:
    """The households of one village to print, by group and 户编号 (deleted ones left out)."""
    rows = session.execute(
        sa.select(Household).where(Household.village_code == village_code,  # type: ignore[arg-type]
                                   Household.deleted.is_(False))  # type: ignore[attr-defined]
        .order_by(sa.func.coalesce(Household.group_name, ""),
                  Household.household_number.asc().nulls_last(),  # type: ignore[union-attr]
                  Household.head_name)
        .limit(MAX_HOUSEHOLDS + 1)).scalars().all()
    if len(rows) > MAX_HOUSEHOLDS:
        raise RuhuError(ErrorCode.card_too_many, status_code=422)
    return list(rows)


def _not_found() -> RuhuError:
    return RuhuError(ErrorCode.record_not_found, status_code=404)


def pdf_response(data: bytes, filename: str) -> Response:
    stamp = china_today().strftime("%Y%m%d")
    return Response(data, media_type="application/pdf", headers={
        "Content-Disposition": f"inline; filename=\"card_{stamp}.pdf\"; "
                               f"filename*=UTF-8''{quote(f'{filename}_{stamp}.pdf')}",
        "Cache-Control": "no-store"})


def household_card(session: Session, user: Principal, household_id: str) -> Response:
    """One household's card; 404 when it does not exist, is deleted or is outside the scope
    (the same answer, never saying which). Audited as an export."""
    try:
        hid = uuid.UUID(str(household_id))
    except ValueError as exc:
        raise _not_found() from exc
    hh = session.get(Household, hid)
    if hh is None or hh.deleted or not user.covers(hh.village_code):
        raise _not_found()
    data = render_pdf(cards_for(session, [hh], china_today()))
    audit(session, user.user_id, "export", {"kind": "card", "household_id": str(hh.id),
                                            "village": hh.village_code, "rows": 1,
                                            "device_id": user.device_id})
    return pdf_response(data, f"明白卡_{hh.household_number or hh.id}")


def village_cards(session: Session, user: Principal, village_code: str) -> Response:
    """Every household's card of one village in one PDF; a village outside the scope is 404."""
    if not (is_region_code(village_code) and region_level(village_code) == "village") \
            or not user.covers(village_code):
        raise _not_found()
    households = village_households(session, village_code)
    data = render_pdf(cards_for(session, households, china_today()))
    audit(session, user.user_id, "export", {"kind": "card.village", "village": village_code,
                                            "rows": len(households),
                                            "device_id": user.device_id})
    return pdf_response(data, f"明白卡_{village_code}")
