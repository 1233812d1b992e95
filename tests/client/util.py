"""Helpers shared by the tablet tests."""

from __future__ import annotations

from stdnum.cn import ric

VILLAGE = "411702105201"


def id_number(serial: int, birth: str = "20050101", region: str = "411702") -> str:
    """A valid 18-character ID number (checksum computed)."""
    body = f"{region}{birth}{serial % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def household(name: str = "张三", serial: int = 1, **extra) -> dict:
    fields = {"village_code": VILLAGE, "head_name": name, "head_id_number": id_number(serial),
              "household_number": f"41170210520100{serial:02d}"}
    fields.update(extra)
    return fields
