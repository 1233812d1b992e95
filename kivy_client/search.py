"""Roster search: by name (汉字 or pinyin / pinyin initials), 户主身份证号 tail and 户编号.

Search keys are computed when a household or one of its members is stored (``household_keys``)
and kept in ``household_index``, so a search is one indexed SQL query over precomputed text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from pypinyin import Style, lazy_pinyin

_DIGITS_RE = re.compile(r"^[0-9xX]+$")
_LATIN_RE = re.compile(r"^[a-zA-Z]+$")


@lru_cache(maxsize=65536)
def _pinyin(text: str) -> tuple[str, str]:
    syllables = [p.lower() for p in lazy_pinyin(text, style=Style.NORMAL) if p.strip()]
    return "".join(syllables), "".join(p[:1] for p in syllables)


def pinyin_full(text: str) -> str:
    """张三 → zhangsan."""
    return _pinyin(text)[0]


def pinyin_initials(text: str) -> str:
    """张三 → zs."""
    return _pinyin(text)[1]


def household_keys(
    head_name: str | None,
    household_number: str | None,
    head_id_number: str | None,
    member_names: Iterable[str] = (),
    member_id_numbers: Iterable[str] = (),
) -> dict[str, str]:
    """The ``household_index`` search columns for one household.

    ``search_text``: names (汉字 and full pinyin) and the 户编号, space separated;
    ``initials``: pinyin initials of every name; ``id_numbers``: ID numbers (tail match);
    ``sort_key``: full pinyin of the head's name, for a roster in 拼音 order.
    """
    names = [n for n in [head_name or "", *member_names] if n]
    search = [*names, *(pinyin_full(n) for n in names)]
    if household_number:
        search.append(household_number.lower())
    ids = [i.upper() for i in [head_id_number or "", *member_id_numbers] if i]
    return {
        "search_text": " " + " ".join(search) + " ",
        "initials": " " + " ".join(pinyin_initials(n) for n in names) + " ",
        "id_numbers": " " + " ".join(ids) + " ",
        "sort_key": pinyin_full(head_name or ""),
    }


_GROUP_RE = re.compile(r"^\s*(?:第)?([0-9]+|[〇零一二两三四五六七八九十]+)")
_CN_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
              "七": 7, "八": 8, "九": 9}


def _chinese_number(text: str) -> int | None:
    """一 → 1, 十 → 10, 十二 → 12, 二十 → 20, 二十三 → 23 (what 村民小组 names use)."""
    if "十" not in text:
        digits = [_CN_DIGITS.get(ch) for ch in text]
        if None in digits:
            return None
        return int("".join(str(d) for d in digits))
    tens, _, ones = text.partition("十")
    if (tens and tens not in _CN_DIGITS) or (ones and ones not in _CN_DIGITS):
        return None
    return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)


def group_order(group_name: str | None) -> str:
    """Sort key of a 村民小组 name: numbered groups in number order (一组, 二组, …, 十组, 十一组,
    or 1组, 2组, …), then the others (东组, 西组) by name."""
    name = group_name or ""
    match = _GROUP_RE.match(name)
    number = None
    if match:
        token = match.group(1)
        number = int(token) if token.isdigit() else _chinese_number(token)
    if number is None:
        return "1" + name
    return f"0{number:06d}{name}"


def search_clause(query: str, alias: str = "hi") -> tuple[str, list[Any]]:
    """SQL condition (on ``household_index`` as ``alias``) and parameters for ``query``.

    - digits (and X): the tail of an ID number (户主 or member), or part of the 户编号;
    - latin letters: pinyin initials (``zs`` for 张三) or full pinyin (``zhangsan``);
    - anything else: part of a name or of the 户编号.
    """
    q = query.strip()
    if not q:
        return "1", []
    like = "%" + q.lower().replace("%", "").replace("_", "") + "%"
    if _DIGITS_RE.match(q):
        tail = "%" + q.upper() + " %"
        return (f"({alias}.id_numbers LIKE ? OR {alias}.search_text LIKE ?)", [tail, like])
    if _LATIN_RE.match(q):
        # initials match from the start of a name: "zs" finds 张三 and 张三丰, not 李张三
        return (
            f"({alias}.initials LIKE ? OR {alias}.search_text LIKE ?)",
            ["% " + q.lower() + "%", like],
        )
    return f"{alias}.search_text LIKE ?", [like]

