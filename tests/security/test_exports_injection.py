"""Exports: user text is always a text cell, never a live formula; control characters stored
before input refused them are dropped instead of breaking the export."""

from __future__ import annotations

import io
from typing import Any

import sqlalchemy as sa
from openpyxl import load_workbook

from tests.console.conftest import console_login

FORMULAS = ['=HYPERLINK("http://x","y")', "+SUM(1,2)", "-2+3", "@SUM(A1)", "\tTAB", "=1+1"]


def _book(resp: Any):
    assert resp.status_code == 200, resp.text[:500]
    return load_workbook(io.BytesIO(resp.content))


def _cells(wb: Any) -> dict[str, Any]:
    """Every string-looking cell of the workbook by value (last one wins)."""
    out = {}
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.value is not None:
                    out[str(cell.value)] = cell
    return out


def _set(db: Any, table: str, column: str, value: str, where: str, arg: Any) -> None:
    with db.begin() as conn:
        conn.execute(sa.text(f"UPDATE {table} SET {column} = :v WHERE {where}"),
                     {"v": value, "w": arg})


def test_formulas_in_user_data_export_as_text(client, world, db):
    a1, a2 = world["a1"].id, world["a2"].id
    _set(db, "household", "head_name", FORMULAS[0], "id = :w", a1)
    _set(db, "household", "address", FORMULAS[1], "id = :w", a1)
    _set(db, "household", "group_name", FORMULAS[2], "id = :w", a1)
    _set(db, "household", "household_number", FORMULAS[3], "id = :w", a2)
    _set(db, "member", "name", FORMULAS[4], "household_id = :w", a2)
    _set(db, "member", "migrant_place", FORMULAS[5], "household_id = :w", a2)
    _set(db, "household", "monitoring_category", "monitored_unstable", "id = :w", a1)
    console_login(client, "admin")
    for url in ("/console/exports/roster.xlsx", "/console/exports/coverage.xlsx",
                "/console/exports/notice.xlsx?scope=all"):
        wb = _book(client.get(url))
        cells = _cells(wb)
        found = [v for v in FORMULAS if v in cells]
        assert found, url
        for value in found:
            cell = cells[value]
            assert cell.data_type == "s", (url, value, cell.data_type)
            assert cell.value == value  # unchanged: no quote or space added to the data
            assert cell.quotePrefix, (url, value)  # Excel keeps it text on edit, too
        # nothing anywhere in the workbook is a formula
        for ws in wb.worksheets:
            assert not [c for row in ws.iter_rows() for c in row if c.data_type == "f"], url
    roster = _cells(_book(client.get("/console/exports/roster.xlsx")))
    assert set(FORMULAS) <= set(roster)


def test_raw_xml_has_no_formula_element(client, world, db):
    import zipfile

    _set(db, "household", "head_name", FORMULAS[0], "id = :w", world["a1"].id)
    console_login(client, "admin")
    resp = client.get("/console/exports/roster.xlsx")
    with zipfile.ZipFile(io.BytesIO(resp.content)) as z:
        for name in z.namelist():
            if name.startswith("xl/worksheets/"):
                assert b"<f>" not in z.read(name) and b"<f " not in z.read(name)


def test_stored_control_chars_do_not_break_exports(client, world, db):
    a1, b1 = world["a1"].id, world["b1"].id
    _set(db, "household", "head_name", "赵\x01大\x0b山\x1f", "id = :w", a1)
    _set(db, "household", "address", "东组\x07\t12号\n院内", "id = :w", a1)
    _set(db, "household", "group_name", "\x1b[31m西组", "id = :w", b1)
    _set(db, "member", "name", "孙\x02乙峰", "household_id = :w", b1)
    console_login(client, "admin")  # the whole county
    for url in ("/console/exports/roster.xlsx", "/console/exports/coverage.xlsx"):
        cells = _cells(_book(client.get(url)))
        assert "赵大山" in cells, url
    notice = _cells(_book(client.get("/console/exports/notice.xlsx?scope=all")))
    assert any(v.startswith("赵*") for v in notice)  # masked for the notice board
    roster = _cells(_book(client.get("/console/exports/roster.xlsx")))
    assert "东组\t12号\n院内" in roster  # tab and line feed are kept: xlsx can hold them
    assert "[31m西组" in roster and "孙乙峰" in roster
    # the pages that show the same data still render
    for url in ("/console/households", f"/console/households/{a1}", "/console/quality",
                "/console/conflicts"):
        assert client.get(url).status_code == 200, url
