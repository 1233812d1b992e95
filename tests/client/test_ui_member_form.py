"""The tablet's member form under Xvfb: typing a valid ID number fills 性别 and 出生日期 (shown,
not typed); a wrong or partial number leaves them alone; the v2 member fields have their inputs.

Runs the real Kivy widgets in a child process (the ``display`` fixture of tests/client/test_ui.py).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from sync_protocol.validation import build_id_number
from tests.client.test_ui import display, run_child  # noqa: F401 - fixture

pytestmark = pytest.mark.gui
WOMAN = build_id_number("411702", dt.date(2012, 9, 1), 32)


def test_member_form_fills_gender_and_birth_date_from_the_id_number(display, tmp_path):  # noqa: F811
    report = run_child(display, Path(__file__).resolve(), tmp_path / "unused.sqlite3", tmp_path,
                       {"number": WOMAN})
    assert report["errors"] == []
    assert report["filled"] == {"gender": "女", "birth_date": "2012-09-01"}
    assert report["partial_kept"] == {"gender": "女", "birth_date": "2012-09-01"}
    assert report["values"]["gender"] == "female" and report["values"]["birth_date"] == \
        "2012-09-01"
    assert report["kinds"] == {"health": "multi_enum", "employment": "multi_enum",
                               "disability_category": "enum", "left_on": "date",
                               "family_doctor_signed": "bool"}


def _child(_store: str, out_dir: str, info_json: str) -> None:  # pragma: no cover - subprocess
    from kivy.base import EventLoop

    from kivy_client.ui import forms
    from kivy_client.ui.widgets import Form

    info = json.loads(info_json)
    report: dict[str, Any] = {"errors": []}
    try:
        EventLoop.ensure_window()
        form = Form(forms.MEMBER)
        forms.fill_from_id_number(form)
        inputs = form.inputs

        def shown() -> dict[str, str]:
            return {"gender": inputs["gender"].text, "birth_date": inputs["birth_date"].text}

        inputs["id_number"].text = info["number"]
        report["filled"] = shown()
        inputs["id_number"].text = info["number"][:10]  # being corrected: keep what was there
        report["partial_kept"] = shown()
        inputs["id_number"].text = info["number"]
        report["values"] = form.values()
        report["kinds"] = {n: form.specs[n].kind for n in (
            "health", "employment", "disability_category", "left_on", "family_doctor_signed")}
    except Exception as exc:  # reported, not raised: the parent shows it
        report["errors"].append(repr(exc))
    (Path(out_dir) / "report.json").write_text(json.dumps(report, ensure_ascii=False),
                                               encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover - the child process
    _child(*sys.argv[1:4])
