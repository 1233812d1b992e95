"""The console's 五清模板 page (county admin) in process: the form adds a new template version
through the same rules as the API (refusals shown per row, nothing written), an existing template
is the base of its next version, choosing one sets the county policy, a version of the county's
own is retired (停用), and an admin of several counties picks a county by name; other roles are
refused."""

from __future__ import annotations

import html
import re

import sqlalchemy as sa
from sqlmodel import Session

from tests.conftest import COUNTY
from tests.console.conftest import add_user, console_login

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


def _choices(page: str) -> list[str]:
    """The codes the 选用 form offers."""
    form = page.split('id="choose-form"', 1)[1].split("</form>", 1)[0]
    return re.findall(r'<option value="([^"]+)"', form)


def _retirable(page: str) -> list[str]:
    """The codes a 停用 button is shown for."""
    return re.findall(r'action="/console/checklist-templates/retire".*?name="code" value="([^"]+)"',
                      page, re.S)


def _active(db, code: str) -> bool:
    with db.connect() as conn:
        return bool(conn.execute(sa.text("SELECT active FROM checklist_template WHERE code = :c"),
                                 {"c": code}).scalar())


def test_retire_a_version(client, world, db):
    wrong = f"{COUNTY}.wuqing.v2"
    token = console_login(client, "admin")
    for code in (CODE, wrong):
        assert client.post(PATH, data=_form(token, code=code),
                           follow_redirects=False).status_code == 303
    assert client.post(f"{PATH}/choose", data={"csrf_token": token, "county": COUNTY,
                                              "code": CODE}).status_code == 200
    page = html.unescape(client.get(PATH).text)
    assert _retirable(page) == [wrong]  # not the one in use, not a built-in one
    assert wrong in _choices(page)

    def retire(code: str, csrf: str = token, **kw: object):
        return client.post(f"{PATH}/retire", data={"csrf_token": csrf, "county": COUNTY,
                                                   "code": code}, **kw)

    for code, status, message in [
        (CODE, 409, "本县正在使用该模板，不能停用"),
        ("wuqing.v1", 409, "系统内置的五清模板不能停用"),
        ("411703.wuqing.v1", 403, "只能停用本县制定的五清模板版本"),
        (f"{COUNTY}.wuqing.v9", 404, "五清模板不存在"),
    ]:
        refused = retire(code)
        assert refused.status_code == status and message in html.unescape(refused.text), code
    assert retire(wrong, csrf="x").status_code == 403  # CSRF
    assert _active(db, CODE) and _active(db, wrong)

    done = retire(wrong, follow_redirects=False)
    assert done.status_code == 303 and not _active(db, wrong)
    page = html.unescape(client.get(done.headers["location"]).text)
    assert "已停用该模板版本" in page
    row = page.split(f"<td class=\"nowrap\">{wrong}", 1)[1].split("</tr>", 1)[0]
    assert "已停用" in row  # listed, marked, still readable
    assert wrong not in _choices(page) and _retirable(page) == []
    again = retire(wrong, follow_redirects=False)  # idempotent
    assert again.status_code == 303 and not _active(db, wrong)

    chosen = client.post(f"{PATH}/choose", data={"csrf_token": token, "county": COUNTY,
                                                "code": wrong})
    assert chosen.status_code == 422 and "该模板版本已停用，不能选用" in html.unescape(chosen.text)
    assert _policy(db) == CODE
    base = html.unescape(client.get(PATH, params={"base": wrong}).text)  # a base for its fix
    assert f'value="{COUNTY}.wuqing.v3"' in base and 'value="村书记心里清"' in base

    clerk = console_login(client, "clerk_a")
    assert client.post(f"{PATH}/retire", data={"csrf_token": clerk, "county": COUNTY,
                                               "code": CODE}).status_code == 403
    assert _active(db, CODE)


def test_an_admin_of_two_counties_picks_a_county_by_name(client, world, db):
    with Session(db) as s:
        add_user(s, "admin2", "county_admin", [COUNTY, "411703"], "两县管理员")
        s.commit()
    console_login(client, "admin2")
    page = html.unescape(client.get(PATH).text)
    picker = page.split('name="county" onchange', 1)[1].split("</select>", 1)[0]
    assert re.findall(r'<option value="(\d+)"[^>]*>([^<]+)</option>', picker) == [
        (COUNTY, f"驿城区（{COUNTY}）"), ("411703", "411703")]  # a county without a region row
    assert "驿城区使用的“五清”核查模板" in page
    other = html.unescape(client.get(PATH, params={"county": "411703"}).text)
    assert 'value="411703" selected' in other and 'value="411703.wuqing.v1"' in other
