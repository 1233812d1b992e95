"""Users and devices (county admin): create, disable, assign scopes, revoke a device. Audited."""

from __future__ import annotations

import re
import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session, select

from server import users as accounts
from server.api.deps import SessionDep
from server.audit import audit
from server.console.common import parse_uuid, village_names
from server.console.quality import users_in_scope
from server.console.web import AdminDep, ConsoleRoute, CsrfChecked, not_found, redirect, render
from server.db.tables import Device, User, utcnow
from server.scope import Principal, valid_scopes_for_role
from server.sessions import revoke_device_sessions, revoke_user_sessions
from sync_protocol.enums import LABELS, Role
from sync_protocol.errors import ErrorCode, RuhuError, message

router = APIRouter(route_class=ConsoleRoute)
NOTICES = {
    "created": "已创建账号。",
    "disabled": "已停用账号，该账号的所有设备将无法再同步。",
    "enabled": "已启用账号。",
    "scopes": "已修改管辖范围，相关平板下次同步时会重新下载数据。",
    "revoked": "已停用该设备，该设备将无法再登录和同步。",
}


def parse_scopes(text: str) -> list[str]:
    return [s for s in re.split(r"[\s,，、;；]+", text.strip()) if s]


def check_scopes(admin: Principal, role: str, scopes: list[str]) -> None:
    if role not in {r.value for r in Role}:
        raise RuhuError(ErrorCode.user_role_invalid)
    if not valid_scopes_for_role(role, scopes) or not all(admin.covers(s) for s in scopes):
        raise RuhuError(ErrorCode.user_scope_invalid,
                        f"{message(ErrorCode.user_scope_invalid)}：{accounts.SCOPE_RULE}，且须在您的管辖范围内。")


def _user_in_scope(session: Session, admin: Principal, user_id: str) -> User:
    uid = parse_uuid(user_id)
    for user in users_in_scope(session, admin):
        if user.id == uid:
            return user
    raise RuhuError(ErrorCode.user_not_found, status_code=404)


def _page(request: Request, session: Session, admin: Principal, status: int = 200,
          error: str | None = None, form: dict[str, Any] | None = None,
          notice: str = "") -> Response:
    users = sorted(users_in_scope(session, admin), key=lambda u: (u.role, u.username))
    devices: dict[uuid.UUID, list[Device]] = {u.id: [] for u in users}
    if users:
        for d in session.exec(select(Device).where(
                Device.user_id.in_(list(devices))).order_by(Device.last_seen.desc())).all():  # type: ignore[attr-defined]
            devices[d.user_id].append(d)
    return render(request, "users.html", status, active="users", users=users, devices=devices,
                  roles=list(LABELS[Role].items()), error=error, form=form or {},
                  notice=NOTICES.get(notice, ""), names=village_names(session, admin))


@router.get("/users")
def users_page(request: Request, session: SessionDep, admin: AdminDep, msg: str = "") -> Response:
    return _page(request, session, admin, notice=msg)


@router.post("/users", dependencies=[CsrfChecked])
async def create_user(request: Request, session: SessionDep, admin: AdminDep) -> Response:
    form = {k: str(v).strip() for k, v in (await request.form()).items() if isinstance(v, str)}
    username, name, role = form.get("username", ""), form.get("name", ""), form.get("role", "")
    password = form.get("password", "")
    scopes = parse_scopes(form.get("scopes", ""))
    try:
        check_scopes(admin, role, scopes)
        accounts.create_user(session, admin.user_id, username=username, name=name, role=role,
                             scopes=scopes, password=password, phone=form.get("phone") or None,
                             unit=form.get("unit") or None, via="console")
    except RuhuError as exc:
        form.pop("password", None)
        return _page(request, session, admin, 400, error=exc.message, form=form)
    return redirect("/console/users?msg=created")


@router.post("/users/{user_id}/disable", dependencies=[CsrfChecked])
def disable_user(session: SessionDep, admin: AdminDep, user_id: str) -> Response:
    user = _user_in_scope(session, admin, user_id)
    if user.id == admin.user_id:
        raise RuhuError(ErrorCode.auth_forbidden, "不能停用自己的账号。")
    user.disabled, user.updated_at = True, utcnow()
    revoke_user_sessions(session, user.id)  # re-enabling must not bring old tokens back
    audit(session, admin.user_id, "user_disable", {"user_id": str(user.id),
                                                   "username": user.username})
    return redirect("/console/users?msg=disabled")


@router.post("/users/{user_id}/enable", dependencies=[CsrfChecked])
def enable_user(session: SessionDep, admin: AdminDep, user_id: str) -> Response:
    user = _user_in_scope(session, admin, user_id)
    user.disabled, user.updated_at = False, utcnow()
    audit(session, admin.user_id, "user_enable", {"user_id": str(user.id),
                                                  "username": user.username})
    return redirect("/console/users?msg=enabled")


@router.post("/users/{user_id}/scopes", dependencies=[CsrfChecked])
async def set_scopes(request: Request, session: SessionDep, admin: AdminDep,
                     user_id: str) -> Response:
    user = _user_in_scope(session, admin, user_id)
    scopes = parse_scopes(str((await request.form()).get("scopes") or ""))
    try:
        check_scopes(admin, user.role, scopes)
    except RuhuError as exc:
        return _page(request, session, admin, 400, error=f"{user.name}：{exc.message}")
    old = list(user.scopes)
    if sorted(old) != sorted(scopes):
        # A new scope_version makes every device of the user reset on its next pull.
        user.scopes, user.scope_version, user.updated_at = scopes, user.scope_version + 1, utcnow()
        audit(session, admin.user_id, "user_scopes", {"user_id": str(user.id), "old": old,
                                                      "new": scopes,
                                                      "scope_version": user.scope_version})
    return redirect("/console/users?msg=scopes")


@router.post("/devices/{device_pk}/revoke", dependencies=[CsrfChecked])
def revoke_device(session: SessionDep, admin: AdminDep, device_pk: str) -> Response:
    device = session.get(Device, parse_uuid(device_pk))
    if device is None:
        raise not_found()
    _user_in_scope(session, admin, str(device.user_id))
    if not device.revoked:
        device.revoked, device.revoked_at = True, utcnow()
        revoke_device_sessions(session, device.user_id, device.device_id)
        audit(session, admin.user_id, "device_revoke", {"device_id": device.device_id,
                                                        "user_id": str(device.user_id)})
    return redirect("/console/users?msg=revoked")
