"""The console's 五清模板 page (county admin) in process: the form adds a new template version
through the same rules as the API (refusals shown per row, nothing written), an existing template
is the base of its next version, and choosing one sets the county policy; other roles are
refused."""

from __future__ import annotations

import html

import sqlalchemy as sa

from tests.conftest import COUNTY
from tests.console.conftest import console_login

PATH = "/console/checklist-templates"
CODE = f"{COUNTY}.wuqing.v1"


def _form(token: str, **over: str) -> dict[str, str]:
    data = {"csrf_token": token, "county": COUNTY, "code": CODE, "name": "五清（本县版）",
            "item_code_0": "dishu", "item_title_0": "底数清", "item_hint_0": "base_file",
            "item_code_1": "wenti", "item_title_1": "问题清", "item_description_1": "人工核查",
            "item_code_2": "shuji", "item_title_2": "村书记心里清", "item_secretary_2": "1"}
    data.update(over)
    return data


def _stored(db) -> dict[str, list]:
    with db.connect() as conn:
        return {r.code: r.items for r in conn.execute(
            sa.text("SELECT code, items FROM checklist_template"))}


def _policy(db) -> str | None:
    with db.connect() as conn:
        return conn.execute(sa.text("SELECT checklist_template FROM county_policy "
                                    "WHERE county_code = :c"), {"c": COUNTY}).scalar()


def test_only_the_county_admin(client, world):
    console_login(client, "clerk_a")
    page = client.get(PATH)
    assert page.status_code == 403 and "仅限县级管理员" in page.text
    token = console_login(client, "clerk_a")
    assert client.post(PATH, data=_form(token)).status_code == 403


def test_create_choose_and_next_version(client, world, db):
    token = console_login(client, "admin")
    page = client.get(PATH)
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "五清核查模板" in text and "系统内置" in text and "wuqing.dswz" in text
    assert f'value="{CODE}"' in text  # the first free code of the county is offered

    # refused: every problem shown with its row, nothing written
    bad = client.post(PATH, data=_form(token, item_code_1="dishu", item_title_2=""))
    assert bad.status_code == 422
    shown = html.unescape(bad.text)
    assert "第2项：同一模板中的项目编号不能重复" in shown and "第3项：请填写项目名称" in shown
    assert 'value="问题清"' in shown  # what was typed is kept
    assert CODE not in _stored(db)
    assert client.post(PATH, data={**_form(token), "csrf_token": "x"}).status_code == 403

    done = client.post(PATH, data=_form(token), follow_redirects=False)
    assert done.status_code == 303
    items = _stored(db)[CODE]
    assert [(i["code"], i["secretary_only"], i["manual_only"]) for i in items] == [
        ("dishu", False, False), ("wenti", False, True), ("shuji", True, True)]
    assert "已新建模板版本" in client.get(done.headers["location"]).text
    again = client.post(PATH, data=_form(token, name="改名"))
    assert again.status_code == 409 and "已发布的模板不能修改" in html.unescape(again.text)
    assert _stored(db)[CODE] == items

    # the next version starts from this one
    base = html.unescape(client.get(PATH, params={"base": CODE}).text)
    assert f'value="{COUNTY}.wuqing.v2"' in base and 'value="村书记心里清"' in base
    assert client.get(PATH, params={"base": "nothing"}).status_code == 404

    # choose it; another county's or an unknown one is refused and changes nothing
    chosen = client.post(f"{PATH}/choose", data={"csrf_token": token, "county": COUNTY,
                                                "code": CODE}, follow_redirects=False)
    assert chosen.status_code == 303 and _policy(db) == CODE
    page = html.unescape(client.get(PATH).text)
    assert "本县使用中" in page and "平板下次同步" in page
    wrong = client.post(f"{PATH}/choose", data={"csrf_token": token, "county": COUNTY,
                                               "code": "411703.wuqing.v1"})
    assert wrong.status_code == 403 and "只能为本县" in html.unescape(wrong.text)
    assert client.post(f"{PATH}/choose", data={"csrf_token": token, "county": "411703",
                                              "code": "wuqing.v1"}).status_code == 404
    assert _policy(db) == CODE
