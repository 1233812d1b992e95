"""Read API for the console and reports: households in scope, and one household in full."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from server.api.deps import CurrentUser, SessionDep
from server.queries.households import HouseholdFilters, household_detail, list_households
from sync_protocol.entities import FIELD_LABELS
from sync_protocol.enums import HouseholdType, MonitoringCategory, MonitoringStatus, PovertyStatus
from sync_protocol.errors import ErrorCode, RuhuError, message
from sync_protocol.validation import is_region_code, region_level

router = APIRouter(prefix="/api/v1", tags=["households"])

MAX_PAGE_SIZE = 200


def _invalid(code: ErrorCode, field: str, label: str) -> RuhuError:
    return RuhuError(code, f"{label}：{message(code)}", status_code=422, extra={"field": field})


def _check_filters(village: str | None, township: str | None, poverty_status: str | None,
                   monitoring_category: str | None, q: str | None,
                   household_type: str | None = None,
                   monitoring_status: str | None = None) -> None:
    # control characters in ``q`` (and any parameter) are refused app-wide: deps.InputChecked
    if village is not None and not (is_region_code(village) and region_level(village)
                                    == "village"):
        raise _invalid(ErrorCode.validation_region_code_invalid, "village", "行政村")
    if township is not None and not (len(township) == 9 and township.isdigit()
                                     and is_region_code(township + "000")):
        raise RuhuError(ErrorCode.validation_region_code_invalid,
                        "乡镇：区划代码不正确（应为9位数字）", status_code=422,
                        extra={"field": "township"})
    if poverty_status is not None and poverty_status not in set(PovertyStatus):
        raise _invalid(ErrorCode.validation_enum_invalid, "poverty_status",
                       FIELD_LABELS["poverty_status"])
    if household_type is not None and household_type not in set(HouseholdType):
        raise _invalid(ErrorCode.validation_enum_invalid, "household_type", "户类型")
    if monitoring_status is not None and monitoring_status not in set(MonitoringStatus):
        raise _invalid(ErrorCode.validation_enum_invalid, "monitoring_status", "监测状态")
    if monitoring_category is not None and monitoring_category not in set(MonitoringCategory):
        raise _invalid(ErrorCode.validation_enum_invalid, "monitoring_category", "监测对象类别")


@router.get("/households")
def get_households(
    session: SessionDep,
    user: CurrentUser,
    village: Annotated[str | None, Query(max_length=20, description="12位行政村代码")] = None,
    township: Annotated[str | None, Query(max_length=20, description="9位乡镇代码")] = None,
    poverty_status: Annotated[str | None, Query(
        max_length=30, description="历史贫困状态（2020年前，建档立卡时的属性）")] = None,
    household_type: Annotated[str | None, Query(
        max_length=30, description="户类型：exited 脱贫户 / ordinary 一般农户")] = None,
    monitoring_status: Annotated[str | None, Query(
        max_length=30, description="监测状态：none 非监测对象 / monitored 风险未消除 / "
                                   "eliminated 风险已消除")] = None,
    monitoring_category: Annotated[str | None, Query(max_length=30)] = None,
    wuqing_incomplete: bool = False,
    wuqing_checked: Annotated[bool | None, Query(description="五清已核查（每项为清或不清）")
                              ] = None,
    wuqing_all_clear: Annotated[bool | None, Query(description="五清全部为清")] = None,
    not_visited_this_month: bool = False,
    q: Annotated[str | None, Query(max_length=50, description="姓名、户编号或身份证号")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
) -> dict[str, Any]:
    """Households in the user's scope, filtered and paged (``items``, ``total``, ``page``)."""
    _check_filters(village, township, poverty_status, monitoring_category, q, household_type,
                   monitoring_status)
    filters = HouseholdFilters(
        village=village, township=township, poverty_status=poverty_status,
        household_type=household_type, monitoring_status=monitoring_status,
        monitoring_category=monitoring_category, wuqing_incomplete=wuqing_incomplete,
        wuqing_checked=wuqing_checked, wuqing_all_clear=wuqing_all_clear,
        not_visited_this_month=not_visited_this_month, q=q or None, page=page,
        page_size=page_size,
    )
    return list_households(session, user, filters)


@router.get("/households/{household_id}")
def get_household(household_id: str, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """One household with members, incomes, measures, helpers, visits, 五清 with hints, status
    events and change history. Out of scope is 404, exactly like a household that does not exist."""
    try:
        hid = uuid.UUID(household_id)
    except ValueError as exc:
        raise _invalid(ErrorCode.validation_uuid_invalid, "household_id", "农户编号") from exc
    detail = household_detail(session, user, hid)
    if detail is None:
        raise RuhuError(ErrorCode.record_not_found, status_code=404)
    return detail
