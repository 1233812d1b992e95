"""The 2021+ official wording everywhere a user sees (domain.md, "Official wording"): rendered
console pages and xlsx exports of the demo county, the tablet's label tables and screens' texts,
and every error message.

Two kinds of retired words:
- words that are simply wrong today (非贫困户, 扶贫专干, 危房等级, 走访事由, 五清已完成,
  一般贫困户…, 扶贫手册, 脱贫属性): they must not appear anywhere a user sees;
- the 2014–2020 statuses 新识别 / 未脱贫 / 预脱贫: history only. They may appear as the value of
  历史贫困状态（2020年前） (the ``poverty_status`` field), in the 脱贫轨迹 (status events, their
  notes and the 轨迹清 hint) and in the change history — never as a household's current status.
"""

from __future__ import annotations

import ast
import io
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook

from sync_protocol import errors
from sync_protocol.entities import FIELD_LABELS, HISTORY_STATUS_LABEL
from sync_protocol.enums import LABELS, RETIRED_LABELS, PovertyStatus, StatusEventKind
from tests.console.conftest import console_login

ROOT = Path(__file__).resolve().parents[1]
WRONG = ("非贫困户", "扶贫专干", "危房等级", "走访事由", "五清已完成", "一般贫困户", "低保贫困户",
         "特困供养贫困户", "扶贫手册", "脱贫属性", "贫困户属性", "扶贫小额信贷")
HISTORY_ONLY = ("新识别", "未脱贫", "预脱贫")
# where a history status may be shown: the field's own history label, the 轨迹
HISTORY_MARKS = (HISTORY_STATUS_LABEL, "轨迹")


def wrong_words(text: str) -> list[str]:
    return [w for w in WRONG if w in text]


def history_as_current(text: str) -> list[str]:
    return [w for w in HISTORY_ONLY if w in text]


# --- pages --------------------------------------------------------------------------------------


def _visible(html: str) -> str:
    """The page without scripts, styles and tags (what a user reads), rows kept on lines."""
    html = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", html)
    html = re.sub(r"(?i)</(tr|dd|li|p|h\d|div)>", "\n", html)
    return re.sub(r"<[^>]+>", " ", html)


def _without_history(html: str) -> str:
    """The page minus the places a history status belongs: the 历史贫困状态 field (dt/dd), the
    脱贫轨迹 section and any table row or line that names the history label or the 轨迹."""
    html = re.sub(r"(?is)<dt>\s*" + re.escape(HISTORY_STATUS_LABEL) + r"\s*</dt>\s*<dd>.*?</dd>",
                  " ", html)
    html = re.sub(r"(?is)<h2>\s*脱贫轨迹\s*</h2>.*?(?=<h2|$)", " ", html)
    html = re.sub(r"(?is)<tr\b(?:(?!</tr>).)*?(?:" + "|".join(map(re.escape, HISTORY_MARKS))
                  + r").*?</tr>", " ", html)
    return "\n".join(line for line in _visible(html).splitlines()
                     if not any(mark in line for mark in HISTORY_MARKS))


def _pages(client, demo_engine) -> dict[str, str]:
    import sqlalchemy as sa

    with demo_engine.connect() as conn:
        ids = conn.execute(sa.text(
            "SELECT DISTINCT ON (poverty_status) id::text FROM household "
            "WHERE poverty_status IN ('new', 'not_exited', 'pre_exit', 'exited', 'none') "
            "ORDER BY poverty_status, id")).scalars().all()
        monitored = conn.execute(sa.text(
            "SELECT h.id::text FROM household h WHERE monitoring_status = 'monitored' "
            "AND EXISTS (SELECT 1 FROM status_event e WHERE e.household_id = h.id "
            "AND e.kind = 'pre_exit') LIMIT 1")).scalars().all()
    paths = ["/console/", "/console/households", "/console/procedures", "/console/notices",
             "/console/quality", "/console/exports", "/console/reports", "/console/conflicts",
             "/console/imports", "/console/users",
             "/console/households?monitoring_status=monitored",
             *(f"/console/reports/{name}" for name in ("monitoring", "elimination", "measures",
                                                      "alerts", "visits", "wuqing")),
             *(f"/console/households/{hid}" for hid in [*ids, *monitored])]
    out = {}
    for path in paths:
        resp = client.get(path)
        assert resp.status_code == 200, (path, resp.status_code)
        out[path] = resp.text
    return out


@pytest.fixture
def admin_client(demo_client):
    console_login(demo_client, "demo_admin")
    return demo_client


def test_console_pages_use_the_2021_wording(admin_client, demo_engine):
    pages = _pages(admin_client, demo_engine)
    assert len(pages) >= 20
    for path, html in pages.items():
        assert not wrong_words(_visible(html)), (path, wrong_words(_visible(html)))
        rest = _without_history(html)
        assert not history_as_current(rest), (path, history_as_current(rest), [
            line.strip() for line in rest.splitlines() if history_as_current(line)][:3])
    # the household file names the current status and labels the history as history
    detail = next(html for path, html in pages.items() if path.startswith(
        "/console/households/"))
    assert "户类型" in detail and "监测状态" in detail and HISTORY_STATUS_LABEL in detail
    # the scan does see a history status where it belongs (else it would prove nothing)
    assert any(history_as_current(_visible(html)) for html in pages.values())


# --- exports ------------------------------------------------------------------------------------


def _book_cells(content: bytes) -> list[tuple[str, str]]:
    """(column title, cell text) for every cell below a header row of each sheet."""
    wb = load_workbook(io.BytesIO(content))
    out = []
    for ws in wb.worksheets:
        rows = [[("" if c is None else str(c)) for c in row]
                for row in ws.iter_rows(values_only=True)]
        header: list[str] = []
        for row in rows:
            if not header and sum(1 for c in row if c) >= 3:
                header = row
                out.extend(("", c) for c in row)
                continue
            out.extend((header[i] if i < len(header) else "", c) for i, c in enumerate(row))
    return out


EXPORTS = ["/console/exports/roster.xlsx", "/console/exports/coverage.xlsx",
           "/console/exports/notice.xlsx?scope=all", "/console/exports/notice.xlsx?scope=exited",
           "/console/notices.xlsx", "/console/imports/template.xlsx",
           *(f"/console/reports/{name}.xlsx" for name in ("monitoring", "elimination",
                                                         "measures", "alerts", "visits",
                                                         "wuqing"))]


def test_exports_use_the_2021_wording(admin_client):
    titles: set[str] = set()
    for path in EXPORTS:
        resp = admin_client.get(path)
        assert resp.status_code == 200, (path, resp.status_code)
        for title, cell in _book_cells(resp.content):
            titles.add(title)
            assert not wrong_words(cell), (path, title, cell)
            if title == HISTORY_STATUS_LABEL:
                continue
            parts = [p for p in re.split("[；;]", cell) if "轨迹" not in p]
            found = history_as_current("；".join(parts))
            assert not found, (path, title, cell)
    # the current status has its columns; the history keeps its own, labelled as history
    assert {"户类型", "监测状态", HISTORY_STATUS_LABEL} <= titles


# --- the tablet and the messages ----------------------------------------------------------------


def test_label_tables_and_messages_use_the_2021_wording():
    assert FIELD_LABELS["poverty_status"] == HISTORY_STATUS_LABEL
    history_enums = {PovertyStatus, StatusEventKind}  # their values are history by nature
    for enum, labels in LABELS.items():
        for code, text in labels.items():
            assert not wrong_words(text), (enum.__name__, code, text)
            if enum not in history_enums:
                assert not history_as_current(text), (enum.__name__, code, text)
    for name, text in FIELD_LABELS.items():
        assert not wrong_words(text) and not history_as_current(text), (name, text)
    for code, text in errors.MESSAGES.items():
        assert not wrong_words(text) and not history_as_current(text), (code, text)
    # retired words are only read (imports), never a label
    for enum, old in RETIRED_LABELS.items():
        assert not set(old) & set(LABELS[enum].values())


def _literals(path: Path) -> list[str]:
    if path.suffix == ".py":
        return [n.value for n in ast.walk(ast.parse(path.read_text("utf-8")))
                if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    return [path.read_text("utf-8")]


# the one place each retired word may stay: reading old files
# reading older words is fine: the import's titles, the national export's old 户类型 values
ALLOWED = {("server/console/imports.py", "脱贫属性"), ("sync_protocol/enums.py", "*"),
           ("sync_protocol/national.py", "非贫困户")}


def test_screens_and_templates_use_the_2021_wording():
    """Every text of the tablet (screens, .kv, forms, presenters), the console templates and
    modules, the demo county and the shared rules."""
    files = [p for folder in ("kivy_client", "server", "sync_protocol")
             for p in sorted((ROOT / folder).rglob("*"))
             if p.suffix in (".py", ".kv", ".html") and "__pycache__" not in p.parts]
    assert len(files) > 100
    for path in files:
        rel = str(path.relative_to(ROOT))
        for text in _literals(path):
            for word in wrong_words(text):
                if (rel, word) in ALLOWED or (rel, "*") in ALLOWED:
                    continue
                raise AssertionError(f"{rel}: retired word {word!r} in {text[:80]!r}")


# --- 返贫致贫风险类型 and 致贫原因; 计划实施 and 已落实 ------------------------------------------

RISK_WORD = "风险类型"
RISK_LABEL = "返贫致贫风险类型"


def _bare_risk_words(text: str) -> list[str]:
    """Each 风险类型 not written as 返贫致贫风险类型 (the risk of a monitored household is never
    a bare 风险类型, nor a 致贫原因: that is the history of a registered household)."""
    return [text[max(0, m.start() - 8):m.end() + 8] for m in re.finditer(RISK_WORD, text)
            if not text[:m.end()].endswith(RISK_LABEL)]


def test_risk_types_and_causes_keep_their_official_names():
    from sync_protocol.enums import MeasureStatus

    assert FIELD_LABELS["risk_types"] == RISK_LABEL
    assert "原因" in FIELD_LABELS["causes"] and RISK_WORD not in FIELD_LABELS["causes"]
    assert "原因" not in FIELD_LABELS["risk_types"]
    # 计划实施 vs 已落实 (the measure's status; never 已完成)
    assert LABELS[MeasureStatus]["planned"] == "计划实施"
    assert LABELS[MeasureStatus]["done"] == "已落实"
    files = [p for folder in ("kivy_client", "server", "sync_protocol")
             for p in sorted((ROOT / folder).rglob("*"))
             if p.suffix in (".py", ".kv", ".html") and "__pycache__" not in p.parts]
    for path in files:
        for text in _literals(path):
            assert not _bare_risk_words(text), (str(path.relative_to(ROOT)),
                                               _bare_risk_words(text))


def test_reports_and_exports_name_the_risk_type_in_full(admin_client):
    for path in ("/console/reports/monitoring", "/console/reports/measures"):
        text = _visible(admin_client.get(path).text)
        assert RISK_LABEL in text and not _bare_risk_words(text), (path, _bare_risk_words(text))
        assert "已完成" not in text
    for path in ("/console/exports/roster.xlsx", "/console/reports/measures.xlsx",
                 "/console/reports/monitoring.xlsx"):
        cells = [c for _, c in _book_cells(admin_client.get(path).content)]
        assert not [c for c in cells if _bare_risk_words(c)], path
    measures = "".join(c for _, c in _book_cells(
        admin_client.get("/console/reports/measures.xlsx").content))
    assert "已落实" in measures and "已完成" not in measures
