"""Who may see and change what: the one place where roles and region scopes are enforced."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from sync_protocol.enums import Role
from sync_protocol.validation import in_scope, is_scope_prefix

ROLE_SCOPE_LENGTH = {
    Role.village_cadre: 12,
    Role.first_secretary: 12,
    Role.village_secretary: 12,
    Role.township_clerk: 9,
    Role.county_admin: 6,
}
FIELD_ROLES = frozenset({Role.village_cadre, Role.first_secretary, Role.village_secretary})
OFFICE_ROLES = frozenset({Role.township_clerk, Role.county_admin})


def valid_scopes_for_role(role: str, scopes: list[str]) -> bool:
    """A role's scopes are prefixes at its level (village 12, township 9, county 6 digits)."""
    if role not in ROLE_SCOPE_LENGTH or not scopes:
        return False
    length = ROLE_SCOPE_LENGTH[Role(role)]
    return all(is_scope_prefix(s) and len(s) == length for s in scopes)


@dataclass(frozen=True)
class Principal:
    """The authenticated user of a request, with the region prefixes they may touch."""

    user_id: Any
    username: str
    name: str
    role: str
    scopes: tuple[str, ...]
    device_id: str
    scope_version: int
    # the request's auth_session (the token's jti): what logging out revokes
    session_id: Any = None

    def covers(self, village_code: str | None) -> bool:
        return in_scope(village_code, self.scopes)

    @property
    def is_office(self) -> bool:
        return self.role in OFFICE_ROLES

    def scope_clause(self, column: Any) -> Any:
        """SQL: the 12-digit region code in ``column`` starts with one of the user's prefixes
        (false when there are none). Villages by equality, wider scopes by a range on the code:
        index friendly under any collation, unlike LIKE. The one scope filter of every read,
        pull and export."""
        villages = [s for s in self.scopes if len(s) == 12]
        clauses = [column.in_(villages)] if villages else []
        for prefix in self.scopes:
            if len(prefix) < 12:
                low, high = prefix.ljust(12, "0"), prefix.ljust(12, "9")
                clauses.append(sa.and_(column >= low, column <= high))
        return sa.or_(*clauses) if clauses else sa.false()

    @property
    def county_codes(self) -> tuple[str, ...]:
        return tuple(sorted({s[:6] for s in self.scopes}))
