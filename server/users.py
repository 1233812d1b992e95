"""Creating a user: the one path behind ``ruhu create-user`` and the console's user page (the
same username, name, password, role and scope rules, the same audit entry)."""

from __future__ import annotations

import uuid

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from server.audit import audit
from server.db.tables import User
from server.scope import valid_scopes_for_role
from server.security import hash_password
from sync_protocol.enums import LABELS, Role
from sync_protocol.errors import ErrorCode, RuhuError, message
from sync_protocol.validation import USERNAME_RE, is_phone

MIN_PASSWORD = 8
MAX_PASSWORD = 256
SCOPE_RULE = "村级账号填12位行政村代码，乡镇账号填9位乡镇代码，县级账号填6位县代码"


def check_new_user(*, username: str, name: str, role: str, scopes: list[str], password: str,
                   phone: str | None = None) -> None:
    """RuhuError (a Chinese message saying what to fix) unless the user may be created."""
    if not USERNAME_RE.match(username):
        raise RuhuError(ErrorCode.validation_type_invalid,
                        "用户名须为3到64位字母、数字、下划线、点或减号。")
    if not name.strip() or len(name) > 100:
        raise RuhuError(ErrorCode.validation_field_required, "请填写姓名（不超过100个字符）。")
    if len(password) < MIN_PASSWORD:
        raise RuhuError(ErrorCode.validation_out_of_range,
                        f"密码至少需要 {MIN_PASSWORD} 个字符。")
    if len(password) > MAX_PASSWORD:
        raise RuhuError(ErrorCode.validation_out_of_range,
                        f"密码过长（不能超过 {MAX_PASSWORD} 个字符）。")
    if role not in set(Role):
        raise RuhuError(ErrorCode.user_role_invalid,
                        f"{message(ErrorCode.user_role_invalid)}：{role}（可选："
                        + "、".join(f"{r.value} {LABELS[Role][r.value]}" for r in Role) + "）")
    if not valid_scopes_for_role(role, scopes):
        raise RuhuError(ErrorCode.user_scope_invalid,
                        f"{message(ErrorCode.user_scope_invalid)}：{SCOPE_RULE}。")
    if phone and not is_phone(phone):
        raise RuhuError(ErrorCode.validation_phone_invalid)


def create_user(session: Session, actor: uuid.UUID | None, *, username: str, name: str,
                role: str, scopes: list[str], password: str, phone: str | None = None,
                unit: str | None = None, via: str) -> User:
    """Check, insert (argon2 hash) and audit (``user_create``) a user in the session's
    transaction; ``via``: "cli" or "console". RuhuError on bad input or a taken username."""
    check_new_user(username=username, name=name, role=role, scopes=scopes, password=password,
                   phone=phone)
    if session.exec(select(User.id).where(User.username == username)).first():
        raise RuhuError(ErrorCode.user_exists, f"{message(ErrorCode.user_exists)}：{username}")
    user = User(username=username, name=name.strip(), role=role, scopes=list(scopes),
                phone=phone or None, unit=unit or None, password_hash=hash_password(password))
    session.add(user)
    try:
        session.flush()
    except IntegrityError as exc:  # created meanwhile by someone else
        raise RuhuError(ErrorCode.user_exists,
                        f"{message(ErrorCode.user_exists)}：{username}") from exc
    audit(session, actor, "user_create", {"user_id": str(user.id), "username": username,
                                          "role": role, "scopes": list(scopes), "via": via})
    return user
