"""Fixed choice lists shown by the screens (kept apart so ``.kv`` files can import them)."""

from __future__ import annotations

from sync_protocol.enums import LABELS, Finding, MonitoringCategory

ALL_CATEGORIES = "全部监测类别"
CATEGORY_CHOICES: dict[str, str | None] = {
    ALL_CATEGORIES: None,
    **{text: code for code, text in LABELS[MonitoringCategory].items()},
}

PURPOSES = ["日常走访", "监测核查", "政策宣传", "帮扶措施落实", "五清核查", "收入核实", "其他"]

# 走访发现 (structured findings of a visit): (code, label), in the order shown
FINDINGS: list[tuple[str, str]] = list(LABELS[Finding].items())

VERDICTS = [("clear", "清"), ("unclear", "不清"), ("unchecked", "未核查")]
