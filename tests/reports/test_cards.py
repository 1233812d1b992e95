"""明白卡 PDFs: the text of the printed card (pdftotext), masking, scope for every role, the
village batch, audit; and a rendered page (pdftoppm) kept in docs/screenshots on request."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import uuid

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from server import cards
from server.db.tables import AuditLog, HelperAssignment, IncomeItem, Measure, Member
from sync_protocol.card import build_card, mask_id_tail
from sync_protocol.wuqing import HouseholdBundle
from tests.conftest import VILLAGE_A1, VILLAGE_A2, VILLAGE_B1
from tests.console.conftest import console_login
from tests.live import SCREENSHOTS

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None,
                                reason="poppler-utils (pdftotext) is not installed")


def text_of(pdf: bytes, tmp_path) -> str:
    path = tmp_path / f"{uuid.uuid4().hex}.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                         capture_output=True, text=True).stdout
    return " ".join(out.split())


@pytest.fixture
def card_county(db, county):
    """County fixture plus a second member, a helper with a phone, a measure and two years of
    income for 李四海 (VILLAGE_A2)."""
    h4 = county["h"]["h4"]
    year = county["today"].year - 1
    with Session(db) as s:
        s.add_all([
            Member(id=uuid.uuid4(), household_id=h4.id, village_code=h4.village_code,
                   name="李小梅", id_number="41170219950506002X", relation="daughter",
                   gender="female", health=["serious_illness"]),
            HelperAssignment(id=uuid.uuid4(), household_id=h4.id, village_code=h4.village_code,
                             helper_name="王帮扶", helper_unit="驿城区农业农村局",
                             helper_phone="13912345678", start_date=dt.date(2024, 3, 1)),
            HelperAssignment(id=uuid.uuid4(), household_id=h4.id, village_code=h4.village_code,
                             helper_name="旧帮扶人", helper_phone="13700000000",
                             start_date=dt.date(2020, 1, 1), end_date=dt.date(2023, 12, 31)),
            Measure(id=uuid.uuid4(), household_id=h4.id, village_code=h4.village_code,
                    category="employment", item="公益性岗位保洁员", status="in_progress",
                    amount=6000),
            IncomeItem(id=uuid.uuid4(), household_id=h4.id, village_code=h4.village_code,
                       year=year, category="transfer", amount=1234.5),
        ])
        s.commit()
    return county


def test_mask_keeps_only_the_last_four():
    assert mask_id_tail("411702196801010250") == "**************0250"
    assert mask_id_tail("") == "" and mask_id_tail(None) == "" and mask_id_tail("1234") == "****"


def test_card_content_is_pure_and_minimal():
    bundle = HouseholdBundle(
        household={"id": "x", "village_code": VILLAGE_A1, "head_name": "张三",
                   "head_id_number": "411702196801010250", "phone": "13800001111",
                   "bank_account": "6228480000000001", "monitoring_status": "monitored",
                   "monitoring_category": "marginal", "risk_types": ["illness"]},
        members=[{"name": "张三", "relation": "head", "id_number": "411702196801010250",
                  "health": ["disabled"]},
                 {"name": "离开的", "relation": "son", "left_on": "2025-01-01"}],
        helpers=[{"helper_name": "李帮", "helper_phone": "13900002222", "end_date": None}])
    card = build_card(bundle, dt.date(2026, 6, 1), {VILLAGE_A1: "张庄村"})
    text = str(card)
    assert "**************0250" in text and "411702196801010250" not in text
    assert "13800001111" not in text and "6228480000000001" not in text and "残疾" not in text
    assert "13900002222" in text and "因病" in text and "离开的" not in text
    assert ("家庭人口", "1人") in card.facts and card.heading == "张庄村"


def test_api_card_text_masks_and_scope(client, card_county, login, tmp_path, db):
    h4, b1 = card_county["h"]["h4"], card_county["h"]["b1"]
    admin = login("admin", device_id="tab-admin")
    resp = client.get(f"/api/v1/households/{h4.id}/card.pdf", headers=admin)
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/pdf"
    text = text_of(resp.content, tmp_path)
    assert "防止返贫监测帮扶明白卡" in text and "李四海" in text and "李小梅" in text
    assert "*" * 14 + h4.head_id_number[-4:] in text and h4.head_id_number not in text
    assert "**************002X" in text and "41170219950506002X" not in text
    # the household's own phone and bank account, health: never; the helper's phone: yes
    assert h4.phone not in text and h4.bank_account not in text and "大病" not in text
    assert "王帮扶" in text and "13912345678" in text and "驿城区农业农村局" in text
    assert "旧帮扶人" not in text and "公益性岗位保洁员" in text
    # last year: wage 3000 - cost 500 + transfer 1234.5 over two members
    assert "3,734.50" in text and "1,867.25" in text
    assert "户主（签字）" in text and "帮扶责任人（签字）" in text

    # a village cadre: their village only; outside it 404 like a household that does not exist
    cadre = login("cadre_a")  # VILLAGE_A1
    assert client.get(f"/api/v1/households/{h4.id}/card.pdf", headers=cadre).status_code == 404
    assert client.get(f"/api/v1/households/{b1.id}/card.pdf", headers=cadre).status_code == 404
    gone = client.get(f"/api/v1/households/{uuid.uuid4()}/card.pdf", headers=cadre)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "record.not_found"
    assert client.get("/api/v1/households/nope/card.pdf", headers=cadre).status_code == 404
    own = client.get(f"/api/v1/households/{card_county['h']['h1'].id}/card.pdf", headers=cadre)
    assert own.status_code == 200 and "赵大山" in text_of(own.content, tmp_path)
    with Session(db) as s:
        kinds = [d["kind"] for d in s.execute(sa.select(AuditLog.detail).where(
            AuditLog.action == "export")).scalars()]
    assert kinds.count("card") == 2


def test_village_batch_is_one_pdf_of_that_village_only(client, card_county, login, tmp_path):
    cadre = login("cadre_a")
    resp = client.get(f"/api/v1/villages/{VILLAGE_A1}/cards.pdf", headers=cadre)
    assert resp.status_code == 200
    text = text_of(resp.content, tmp_path)
    for name in ("赵大山", "钱二河", "周五林", "吴六田"):
        assert name in text
    for other in ("孙三水", "李四海", "郑乙峰", "冯乙河"):  # A2, B1
        assert other not in text
    assert text.count("防止返贫监测帮扶明白卡") == 4
    for village in (VILLAGE_A2, VILLAGE_B1, "411702", "x" * 12):
        assert client.get(f"/api/v1/villages/{village}/cards.pdf",
                          headers=cadre).status_code == 404


def test_console_links_and_scope(client, card_county, tmp_path):
    h1, b1 = card_county["h"]["h1"], card_county["h"]["b1"]
    console_login(client, "clerk_a")
    page = client.get(f"/console/households/{h1.id}")
    assert f"/console/households/{h1.id}/card.pdf" in page.text
    assert f"/console/villages/{VILLAGE_A1}/cards.pdf" in page.text
    pdf = client.get(f"/console/households/{h1.id}/card.pdf")
    assert pdf.status_code == 200 and "赵大山" in text_of(pdf.content, tmp_path)
    assert client.get(f"/console/households/{b1.id}/card.pdf").status_code == 404
    assert client.get(f"/console/villages/{VILLAGE_B1}/cards.pdf").status_code == 404
    batch = client.get(f"/console/villages/{VILLAGE_A2}/cards.pdf")
    assert batch.status_code == 200 and "孙三水" in text_of(batch.content, tmp_path)
    listing = client.get("/console/households", params={"village": VILLAGE_A1})
    assert f"/console/villages/{VILLAGE_A1}/cards.pdf" in listing.text


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm is not installed")
def test_card_page_rendered(client, card_county, login, tmp_path):
    """A page of the card as PNG (docs/screenshots/card_household.png with RUHU_SCREENSHOTS=1)."""
    h4 = card_county["h"]["h4"]
    pdf = client.get(f"/api/v1/households/{h4.id}/card.pdf", headers=login("admin")).content
    src = tmp_path / "card.pdf"
    src.write_bytes(pdf)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile",
                    str(src), str(SCREENSHOTS / "card_household")], check=True)
    assert (SCREENSHOTS / "card_household.png").stat().st_size > 10_000


def _pages(pdf: bytes, tmp_path) -> list[str]:
    """The text of each page, the footer's page number left out (a village's pages number on)."""
    path = tmp_path / f"{uuid.uuid4().hex}.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                         capture_output=True, text=True).stdout
    return [re.sub(r"第 \d+ 页", "", page).rstrip() for page in out.split("\f") if page.strip()]


def test_village_pdf_is_the_households_cards_in_order(card_county, db, tmp_path):
    """The village batch (one document: shared widths, line breaks, font subset) prints each
    household exactly as its own card, page for page, a card longer than a page included."""
    h1, today = card_county["h"]["h1"], card_county["today"]
    with Session(db) as s:
        s.add_all([Measure(id=uuid.uuid4(), household_id=h1.id, village_code=h1.village_code,
                           category="industry", item=f"特色种植产业奖补第{i}批（花生、辣椒、"
                           "中药材种植及配套灌溉设施建设）", status="done", amount=1000 + i,
                           start_date=dt.date(2024, 1, 1) + dt.timedelta(days=i))
                   for i in range(40)])
        s.commit()
        households = cards.village_households(s, VILLAGE_A1)
        village = cards.render_pdf(cards.cards_for(s, households, today))
        one_by_one = [page for h in households for page in _pages(
            cards.render_pdf(cards.cards_for(s, [h], today)), tmp_path)]
    pages = _pages(village, tmp_path)
    assert len(households) == 4 and len(pages) > 4  # h1's card runs over onto more pages
    assert pages == one_by_one
    assert sum("特色种植产业奖补第39批" in page for page in pages) == 1
    assert sum(page.count("类别") for page in pages) > 4  # column titles repeated on new pages


def _boxes(pdf: bytes, tmp_path) -> list[tuple[str, ...]]:
    path = tmp_path / f"{uuid.uuid4().hex}.pdf"
    path.write_bytes(pdf)
    html = subprocess.run(["pdftotext", "-bbox", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout
    return re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" '
                      r'yMax="([\d.]+)">([^<]*)</word>', html)


def test_table_lines_sit_where_fpdf2_cell_puts_them(tmp_path):
    """Table text is written with fpdf2's ``text()`` (fast) at the place ``cell()`` would use:
    centred, left-aligned and wrapped cells, word boxes compared through pdftotext."""
    cells = ["户主", "张三", "住址", "河南省驻马店市驿城区古城乡张庄村二组1000号院内东侧第三间"]
    widths = [30.0, 50.0, 30.0, 70.0]
    fills = [cards.LABEL_FILL, None, cards.LABEL_FILL, None]

    def document(draw) -> bytes:
        pdf = cards._CardPdf()
        pdf.add_page()
        pdf.set_font(cards.FONT, size=9)
        for align in ("C", "L"):
            draw(pdf, align)
        return bytes(pdf.output())

    def with_cell(pdf, align) -> None:  # the card's rows as fpdf2's cell() lays them out
        wrapped = [pdf.wrap(text, w) for text, w in zip(cells, widths, strict=True)]
        height = max(len(lines) for lines in wrapped) * cards.LINE
        x, y = pdf.l_margin, pdf.get_y()
        for lines, w, fill in zip(wrapped, widths, fills, strict=True):
            if fill is not None:
                pdf.set_fill_color(*fill)
            pdf.rect(x, y, w, height, style="DF" if fill is not None else "D")
            top = y + (height - len(lines) * cards.LINE) / 2
            for i, line in enumerate(lines):
                pdf.set_xy(x + cards.PAD, top + i * cards.LINE)
                pdf.cell(w - 2 * cards.PAD, cards.LINE, line,
                         align=align if len(lines) == 1 else "L")
            x += w
        pdf.set_xy(pdf.l_margin, y + height)

    fast = _boxes(document(lambda pdf, align: cards._row(pdf, cells, widths, fills, align)),
                  tmp_path)
    assert len({box[-1] for box in fast}) >= 5 and fast == _boxes(document(with_cell), tmp_path)
