"""The demo county: regions, policy, users and ~200 households with everything that hangs off them.

``seed_demo`` is deterministic (a seeded RNG and uuid5 ids; dates relative to ``today``) and
idempotent: when the demo users exist it changes nothing. Most households are in good order;
some deliberately are not (a cause without a matching measure, no income this year, a helper
without a phone, visits long overdue), so the 五清 hints have something to show.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
import uuid
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from server import demo_data as D
from server import demo_file as F
from server.db.tables import (
    SYNCED_TABLES,
    ChangeLog,
    ChecklistTemplate,
    CountyPolicy,
    IncomeLine,
    Region,
    User,
)
from server.demo_procedures import add_procedures
from server.security import hash_password
from sync_protocol.entities import to_json
from sync_protocol.policy import CHINA_TZ, china_today
from sync_protocol.templates import TEMPLATES, WUQING_V1
from sync_protocol.validation import build_id_number

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://ruhu.invalid/demo/411702")
SEED = 411702
TZ = CHINA_TZ
MARKER_USER = "demo_admin"

# Henan rural poverty line and, from 2021, the monitoring line (yuan per person per year).
# Approximate published figures, for the demo only.
INCOME_LINES = {2014: 2800, 2015: 2855, 2016: 2952, 2017: 3335, 2018: 3535, 2019: 3747,
                2020: 4000}
RISK_CAUSES = frozenset({"illness", "disability", "schooling", "disaster", "accident",
                         "business_failure", "unstable_job", "no_labor", "other"})
MONITORING_LINES = {2021: 6000, 2022: 6500, 2023: 6900, 2024: 7300, 2025: 7600, 2026: 7900}


def demo_id(*parts: object) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, ":".join(str(p) for p in parts))


class _Records:
    """Rows per synced table (with the sync columns filled) plus their change-log entries."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.log: list[dict[str, Any]] = []

    def add(self, entity: str, rid: uuid.UUID, village: str, fields: dict[str, Any],
            at: dt.datetime, by: uuid.UUID | None, household_id: uuid.UUID) -> None:
        fields = {k: v for k, v in fields.items() if v is not None}
        hlc = f"{int(at.timestamp() * 1000):013d}-0000-server"
        self.rows[entity].append({
            **fields,
            "id": rid, "village_code": village, "version": 1, "deleted": False,
            "field_versions": {k: 1 for k in fields}, "field_hlcs": {k: hlc for k in fields},
            "created_at": at, "updated_at": at, "created_by": by, "updated_by": by,
            "updated_device": "server",
        })
        self.log.append({
            "entity": entity, "record_id": rid, "household_id": household_id,
            "village_code": village, "op": "upsert", "version": 1, "change_id": None,
            "hlc": hlc, "user_id": by, "device_id": "server", "source": "demo",
            "changes": {k: [None, v] for k, v in to_json(entity, fields).items()}, "at": at,
        })

    def amend(self, entity: str, rid: uuid.UUID, fields: dict[str, Any]) -> None:
        """Change fields of a record added before (still version 1, as if created so)."""
        row = next(r for r in reversed(self.rows[entity]) if r["id"] == rid)
        hlc = next(iter(row["field_hlcs"].values()))
        row.update(fields)
        row["field_versions"].update({k: 1 for k in fields})
        row["field_hlcs"].update({k: hlc for k in fields})
        log = next(e for e in reversed(self.log) if e["record_id"] == rid and
                   e["entity"] == entity)
        log["changes"].update({k: [None, v] for k, v in to_json(entity, fields).items()})


def _insert(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """One multi-row INSERT per table (every row gets the same keys; missing ones are NULL)."""
    if not rows:
        return
    keys = sorted({k for row in rows for k in row})
    conn.execute(sa.insert(table), [{k: row.get(k) for k in keys} for row in rows])


class _Builder:
    def __init__(self, today: dt.date, user_ids: dict[str, uuid.UUID]) -> None:
        self.rng = random.Random(SEED)
        self.today = today
        self.user_ids = user_ids
        self.records = _Records()
        self.used_ids: set[str] = set()
        self.id_seq = 0
        self.helper_names: dict[uuid.UUID, str] = {}  # household → current helper
        self.helper_rows: dict[uuid.UUID, uuid.UUID] = {}  # household → current assignment
        self.monitored: set[uuid.UUID] = set()

    # --- people -------------------------------------------------------------------------------

    def _id_number(self, birth: dt.date, male: bool) -> str:
        # People born before 2000 carry the code of the former 驻马店市 (412801).
        region = "412801" if birth.year < 2000 else D.COUNTY_CODE
        while True:
            self.id_seq += 1
            seq = (self.id_seq * 2 + (1 if male else 0)) % 1000
            number = build_id_number(region, birth, seq)
            if number not in self.used_ids:
                self.used_ids.add(number)
                return number

    def _birth(self, year: int) -> dt.date:
        return dt.date(year, self.rng.randint(1, 12), self.rng.randint(1, 28))

    def _name(self, surname: str, male: bool, birth_year: int) -> str:
        young = birth_year >= 1990
        pool = (D.MALE_YOUNG if young else D.MALE_OLD) if male else (
            D.FEMALE_YOUNG if young else D.FEMALE_OLD)
        return surname + self.rng.choice(pool)

    def _phone(self) -> str:
        return self.rng.choice(["13", "15", "18"]) + f"{self.rng.randint(0, 999999999):09d}"

    def _person(self, hh: uuid.UUID, index: int, surname: str, relation: str, male: bool,
                birth_year: int) -> dict[str, Any]:
        birth = self._birth(birth_year)
        age = self.today.year - birth.year
        r = self.rng.random()
        if age < 16:
            labor = "none"
        elif age > 65:
            labor = "lost" if r < 0.3 else "weak"
        else:
            labor = "skilled" if r < 0.2 else ("weak" if r > 0.9 else "normal")
        if age < 3:
            schooling = None
        elif age < 6:
            schooling = "preschool"
        elif age < 12:
            schooling = "primary"
        elif age < 15:
            schooling = "junior"
        elif age < 18:
            schooling = self.rng.choice(["senior", "vocational"])
        elif age < 22 and r < 0.5:
            schooling = "college"
        else:
            schooling = "not_in_school"
        migrant = 18 <= age <= 55 and labor in ("normal", "skilled") and self.rng.random() < 0.45
        return {
            "id": demo_id("member", hh, index), "household_id": hh,
            "name": self._name(surname, male, birth_year),
            "id_number": self._id_number(birth, male), "relation": relation,
            "gender": "male" if male else "female", "birth_date": birth,
            "health": "healthy", "labor_ability": labor, "schooling": schooling,
            "education_level": self.rng.choice(["小学", "初中", "高中"]) if age >= 18 else None,
            "migrant_place": self.rng.choice(D.MIGRANT_PLACES) if migrant else None,
            "migrant_months": self.rng.randint(6, 11) if migrant else None,
            "medical_insurance": True, "serious_illness_insurance": True,
            "pension_insurance": True if age >= 16 else None,
        }

    def _members(self, hh: uuid.UUID, surname: str, spouse_surname: str) -> list[dict[str, Any]]:
        rng = self.rng
        head_year = rng.randint(1946, 1988)
        head_male = rng.random() < 0.85
        people = [self._person(hh, 0, surname, "head", head_male, head_year)]
        if rng.random() < 0.85:
            people.append(self._person(hh, 1, spouse_surname if head_male else surname, "spouse",
                                       not head_male, head_year + rng.randint(-3, 4)))
        for i in range(rng.choice([0, 1, 1, 2, 2, 3])):
            male = rng.random() < 0.5
            child_year = min(head_year + rng.randint(22, 34), self.today.year - 1)
            people.append(self._person(hh, 2 + i, surname, "son" if male else "daughter", male,
                                       child_year))
        if head_year > 1965 and rng.random() < 0.25:
            people.append(self._person(hh, 6, surname, "parent", rng.random() < 0.4,
                                       head_year - rng.randint(22, 30)))
        if head_year < 1965 and rng.random() < 0.35:
            male = rng.random() < 0.5
            people.append(self._person(hh, 7, surname, "grandchild", male,
                                       min(head_year + rng.randint(48, 60), self.today.year - 2)))
        return people

    # --- one household ------------------------------------------------------------------------

    def household(self, village: str, township_name: str, village_name: str, surname: str,
                  n: int) -> None:
        rng, today = self.rng, self.today
        hh = demo_id("household", village, n)
        stale = rng.random() < 0.08
        imported = dt.datetime.combine(today - dt.timedelta(days=420 if stale else 90),
                                       dt.time(9, 0), TZ)
        staff = [self.user_ids[u] for u in D.VILLAGE_STAFF.get(village, [])]
        creator = staff[0] if staff else self.user_ids["demo_admin"]

        kind = rng.random()
        monitoring, poverty, exit_year = "none", "exited", None
        if kind < 0.70:
            identified = rng.randint(2014, 2016)
            exit_year = rng.randint(max(identified + 1, 2016), 2020)
            if rng.random() < 0.12:
                monitoring = "unstable"
        elif kind < 0.82:
            poverty, monitoring, identified = "none", "marginal", rng.randint(2021, 2025)
        elif kind < 0.88:
            poverty, monitoring = "none", "sudden_hardship"
            identified = rng.randint(2023, today.year)
        else:
            identified = rng.randint(2014, 2016)
            exit_year = rng.randint(max(identified + 1, 2016), 2020)
        monitored_since = None
        if monitoring == "unstable":
            monitored_since = rng.randint(2021, today.year)
        elif monitoring != "none":
            monitored_since = identified
        since_day = (min(dt.date(monitored_since, 3, 10), today - dt.timedelta(days=20))
                     if monitored_since else None)

        causes = []
        for _ in range(1 if rng.random() < 0.6 else 2):
            cause = rng.choices(list(D.CAUSE_WEIGHTS), weights=list(D.CAUSE_WEIGHTS.values()))[0]
            if cause not in causes:
                causes.append(cause)

        members = self._members(hh, surname, rng.choice(D.SURNAMES))
        head = members[0]
        if "illness" in causes:
            ill = rng.choice(members)
            ill["health"] = rng.choice(["serious_illness", "chronic"])
        if "disability" in causes:
            dis = rng.choice(members)
            dis["health"] = "disabled"
            dis["disability_cert"] = dis["id_number"] + rng.choice(["41", "42", "21", "31"])
        if rng.random() < 0.03 and len(members) > 1:
            members[-1]["id_number"] = None  # 底子清 problem: an ID number not yet recorded
        attribute = "general"
        if "no_labor" in causes:
            attribute = rng.choice(["dibao", "tekun"])
            for m in members:
                m["dibao" if attribute == "dibao" else "tekun"] = True

        lat0, lng0 = D.VILLAGE_CENTRES[village]
        group = rng.choice(D.GROUPS)
        housing = rng.choice(["A", "A", "A", "B", "B"]) if rng.random() > 0.04 else "C"
        flag_names = ("food_secure", "clothing_secure", "education_secure", "medical_secure",
                      "housing_secure", "water_secure")
        flags: dict[str, bool | None] = dict.fromkeys(flag_names, True)
        if rng.random() < 0.05:
            flags[rng.choice(list(flags))] = None  # 两不愁三保障 not answered
        household = {
            "village_code": village, "group_name": group,
            "household_number": f"{village}{n:04d}", "head_name": head["name"],
            "head_id_number": head["id_number"],
            "address": f"河南省驻马店市驿城区{township_name}{village_name}{group}{n + 1}号",
            "phone": self._phone() if rng.random() > 0.03 else None,
            "poverty_status": poverty, "monitoring_category": monitoring, "causes": causes,
            "household_type": "ordinary" if poverty == "none" else "exited",
            "monitoring_status": "none" if monitoring == "none" else "monitored",
            "monitoring_since": since_day,
            "risk_types": [c for c in causes if c in RISK_CAUSES][:3] if since_day else [],
            "reservoir_migrant": rng.random() < 0.04, "relocated": rng.random() < 0.03,
            "housing_grade": housing, "drinking_water_safe": True,
            "lat": round(lat0 + rng.uniform(-0.006, 0.006), 6),
            "lng": round(lng0 + rng.uniform(-0.006, 0.006), 6),
            "household_attribute": attribute if poverty != "none" else None,
            "identified_year": identified, "exit_year": exit_year,
            "bank_account": "6228" + f"{rng.randint(0, 10**15 - 1):015d}",
            "cultivated_land_mu": round(rng.uniform(1.0, 9.0), 1),
            "forest_land_mu": round(rng.uniform(0, 2.0), 1) if rng.random() < 0.3 else 0.0,
            "has_power": True, "road_type": rng.choice(D.ROAD_TYPES),
            "toilet": rng.choice(D.TOILETS), "cooking_fuel": rng.choice(D.FUELS),
            **flags,
        }
        rec = self.records
        rec.add("household", hh, village, household, imported, creator, hh)
        for m in members:
            rec.add("member", m["id"], village, F.member_v2(m, today), imported, creator, hh)
        if monitoring != "none":
            self.monitored.add(hh)

        self._incomes(hh, village, members, identified, imported, creator)
        self._measures(hh, village, causes, members, housing, imported, creator, monitoring)
        self._helpers(hh, village, n, imported, creator)
        episode = self._events(hh, village, poverty, identified, exit_year, monitored_since,
                               monitoring, imported, creator)
        if episode is not None:  # monitored once, risk eliminated since (风险已消除)
            start, end = episode
            rec.amend("household", hh, {
                "monitoring_status": "eliminated", "monitoring_category": "unstable",
                "monitoring_since": start, "eliminated_on": end,
                "elimination_method": "assisted", "risk_types": ["illness", "large_expense"]})
        last_visit = self._visits(hh, village, stale, staff, lat0, lng0)
        self._checklist(hh, village, stale, staff, last_visit)

    def _incomes(self, hh: uuid.UUID, village: str, members: list[dict[str, Any]],
                 identified: int, at: dt.datetime, by: uuid.UUID) -> None:
        rng = self.rng
        workers = sum(1 for m in members if m["labor_ability"] in ("normal", "skilled"))
        dibao, tekun = any(m.get("dibao") for m in members), any(m.get("tekun") for m in members)
        skip_current = rng.random() < 0.10
        skip_year = rng.randint(identified, self.today.year) if rng.random() < 0.04 else None
        for year in range(identified, self.today.year + 1):
            if year == skip_year or (year == self.today.year and skip_current):
                continue
            growth = 1 + 0.06 * (year - 2014)
            items = [("transfer", "养老金、补贴等转移性收入", rng.uniform(1200, 4000)),
                     ("business", "种植收入", rng.uniform(1500, 8000)),
                     ("business_cost", "种子化肥等生产经营支出", rng.uniform(600, 2500))]
            if workers:
                items.append(("wage", "务工收入", workers * rng.uniform(6000, 20000)))
            if rng.random() < 0.3:
                items.append(("property", "土地流转租金", rng.uniform(300, 1800)))
            for i, (category, item, amount) in enumerate(items):
                rec_id = demo_id("income", hh, year, i)
                self.records.add("income_item", rec_id, village, F.income_kind({
                    "household_id": hh, "year": year, "category": category, "item": item,
                    "amount": round(amount * growth, 2),
                }, rec_id, dibao, tekun), at, by, hh)
            for kind, item, amount in F.rigid_expenses(hh, year, members):
                self.records.add("income_item", demo_id("income", hh, year, kind), village, {
                    "household_id": hh, "year": year, "category": "rigid_expense",
                    "item_kind": kind, "item": item, "amount": amount}, at, by, hh)

    def _measures(self, hh: uuid.UUID, village: str, causes: list[str],
                  members: list[dict[str, Any]], housing: str, at: dt.datetime, by: uuid.UUID,
                  monitoring: str) -> None:
        rng = self.rng
        planned: list[tuple[str, str, str, uuid.UUID | None]] = []
        skip = causes[-1] if rng.random() < 0.12 else None  # 措施清 problem
        for cause in causes:
            if cause == skip:
                continue
            category, item, provider = rng.choice(D.MEASURES_FOR_CAUSE[cause])
            planned.append((category, item, provider, None))
        for m in members:
            if m["health"] in ("serious_illness", "disabled") and not any(
                p[0] in ("health", "social_security") for p in planned
            ):
                planned.append(("health", "家庭医生签约服务", "驿城区卫生健康委员会", m["id"]))
        if housing in ("C", "D"):
            planned.append(("housing", "危房改造", "驿城区住房和城乡建设局", None))
        if rng.random() < 0.4:
            planned.append(("industry", "特色种植产业奖补（花生）", "驿城区农业农村局", None))
        for i, (category, item, provider, member) in enumerate(planned):
            start = self.today - dt.timedelta(days=rng.randint(30, 1500))
            status = "done" if monitoring == "none" else rng.choice(["in_progress", "done",
                                                                     "planned"])
            self.records.add("measure", demo_id("measure", hh, i), village, F.measure_v2({
                "household_id": hh, "member_id": member, "category": category, "item": item,
                "start_date": start, "amount": float(rng.choice([0, 500, 1000, 3000, 50000]))
                if category in ("finance", "industry", "housing") else None,
                "provider": provider, "status": status,
            }, demo_id("measure", hh, i), self.today), at, by, hh)

    def _helpers(self, hh: uuid.UUID, village: str, n: int, at: dt.datetime,
                 by: uuid.UUID) -> None:
        rng = self.rng
        helper = D.HELPERS[(n * 7 + int(village[-3:])) % len(D.HELPERS)]
        start = dt.date(self.today.year - rng.randint(1, 4), 3, 1)
        r = rng.random()
        rows: list[tuple[tuple[str, str, str, str], dt.date, dt.date | None]] = []
        if r < 0.2:  # a change of helper adds a row and keeps the old one
            old = D.HELPERS[(n * 5 + 3) % len(D.HELPERS)]
            rows.append((old, dt.date(start.year - 3, 3, 1), start - dt.timedelta(days=1)))
        end = self.today - dt.timedelta(days=rng.randint(30, 200)) if r > 0.97 else None
        rows.append((helper, start, end))
        for i, ((name, unit, position, helper_phone), begin, until) in enumerate(rows):
            phone: str | None = helper_phone
            if village == "411702105201" and n % 8 == 0 and i == len(rows) - 1:
                name, unit, position, phone = D.DEMO_USERS["demo_secretary"][1], \
                    D.DEMO_USERS["demo_secretary"][3], "驻村第一书记", \
                    D.DEMO_USERS["demo_secretary"][4]
                user_id: uuid.UUID | None = self.user_ids["demo_secretary"]
            else:
                user_id = None
            if i == len(rows) - 1 and 0.90 < r <= 0.95:
                phone = None  # 帮扶责任清 problem: no phone for the helper
            self.helper_names[hh] = name  # the last row is the current helper
            self.helper_rows[hh] = demo_id("helper", hh, i)
            self.records.add("helper_assignment", demo_id("helper", hh, i), village, {
                "household_id": hh, "helper_user_id": user_id, "helper_name": name,
                "helper_unit": unit, "helper_position": position, "helper_phone": phone,
                "start_date": begin, "end_date": until,
            }, at, by, hh)

    def _events(self, hh: uuid.UUID, village: str, poverty: str, identified: int,
                exit_year: int | None, monitored_since: int | None, monitoring: str,
                at: dt.datetime, by: uuid.UUID) -> tuple[dt.date, dt.date] | None:
        """The household's 轨迹; returns (start, end) of a monitoring episode whose risk was
        eliminated (None when there is none)."""
        rng = self.rng
        events: list[tuple[str, dt.date, str]] = []
        episode: tuple[dt.date, dt.date] | None = None
        if poverty != "none":
            events.append(("identified", dt.date(identified, rng.randint(3, 6), 15),
                           "经农户申请、民主评议、公示，认定为建档立卡贫困户"))
        if exit_year:
            if rng.random() > 0.04:  # 轨迹清 problem: a missing 预脱贫 step
                events.append(("pre_exit", dt.date(exit_year, 9, rng.randint(1, 28)),
                               "列入年度预脱贫计划"))
            events.append(("exited", dt.date(exit_year, 12, rng.randint(1, 20)),
                           "经入户核实、村内公示、乡镇审核、县级批准，脱贫退出"))
        if monitored_since:
            start = min(dt.date(monitored_since, 3, 10), self.today - dt.timedelta(days=20))
            events.append(("monitoring_started", start, "经排查纳入防止返贫监测"))
        elif poverty == "exited" and rng.random() < 0.15:
            start = dt.date(rng.randint(2021, 2023), 4, 10)
            events.append(("monitoring_started", start, "因病支出较大，纳入监测"))
            episode = (start, start + dt.timedelta(days=rng.randint(200, 500)))
            events.append(("risk_eliminated", episode[1],
                           "帮扶消除：收入稳定超过监测线，风险消除"))
        for i, (kind, day, note) in enumerate(events):
            self.records.add("status_event", demo_id("event", hh, i), village, {
                "household_id": hh, "kind": kind, "date": day, "note": note, "recorded_by": by,
            }, at, by, hh)
        del monitoring
        return episode

    def _visits(self, hh: uuid.UUID, village: str, stale: bool, staff: list[uuid.UUID],
                lat0: float, lng0: float) -> dt.date:
        rng, today = self.rng, self.today
        gap = rng.randint(100, 300) if stale else rng.randint(0, 45)
        day = today - dt.timedelta(days=gap)
        last = day
        for i in range(rng.randint(3, 6)):
            when = dt.datetime.combine(day, dt.time(rng.randint(8, 17), rng.randint(0, 59)), TZ)
            visitor = rng.choice(staff) if staff else None
            # mostly with the current helper (帮扶责任清 counts only those); the pick from the
            # id, not the rng, so the rest of the demo stays as it was
            other = rng.choice(D.HELPERS)[0]
            helper = self.helper_names.get(hh)
            with_helper = helper and int(demo_id("visit", hh, i).hex[:4], 16) % 10 != 0
            self.records.add("visit", demo_id("visit", hh, i), village, F.visit_v2({
                "household_id": hh, "visited_at": when, "visitor_id": visitor,
                "co_visitor": helper if with_helper else other,
                "purpose": rng.choice(D.VISIT_PURPOSES),
                "notes": rng.choice(D.VISIT_NOTES),
                "lat": round(lat0 + rng.uniform(-0.006, 0.006), 6),
                "lng": round(lng0 + rng.uniform(-0.006, 0.006), 6),
                "location_captured": True, "attachment_ids": [],
                "household_confirmed": rng.random() < 0.9,
            }, demo_id("visit", hh, i), self.helper_rows.get(hh), bool(with_helper),
                hh in self.monitored), when, visitor, hh)
            day -= dt.timedelta(days=rng.randint(25, 60))
        return last

    def _checklist(self, hh: uuid.UUID, village: str, stale: bool, staff: list[uuid.UUID],
                   last_visit: dt.date) -> None:
        rng = self.rng
        r = rng.random()
        if stale or r < 0.2:
            return
        codes = list(WUQING_V1.item_codes)
        if r < 0.45:
            codes = rng.sample(codes, rng.randint(1, 3))
        for code in codes:
            checker = rng.choice(staff) if staff else None
            if code == "secretary_knows" and village == "411702105201":
                checker = self.user_ids["demo_secretary"]
            when = dt.datetime.combine(last_visit, dt.time(rng.randint(8, 17), 30), TZ)
            verdict = "unclear" if rng.random() < 0.15 else "clear"
            # check level and rectification from the ids (no rng draw: the rest of the demo
            # stays as it was); some rectifications are overdue, some done
            spin = int(demo_id("checklist", hh, code).hex[:4], 16)
            unclear = verdict == "unclear"
            self.records.add("checklist_item", demo_id("checklist", hh, code), village, {
                "household_id": hh, "template_code": WUQING_V1.code, "item_code": code,
                "verdict": verdict,
                "note": None, "attachment_ids": [], "checked_by": checker, "checked_at": when,
                "check_level": ("self", "self", "township", "cross", "inspection")[spin % 5],
                "rectify_by": last_visit + dt.timedelta(days=15 + spin % 60) if unclear else None,
                "rectified_at": (last_visit + dt.timedelta(days=10)
                                 if unclear and spin % 3 == 0 else None),
                "rectify_note": "已落实整改" if unclear and spin % 3 == 0 else None,
            }, when, checker, hh)


def _users(password: str | None) -> tuple[list[dict[str, Any]], dict[str, tuple[str, str]]]:
    rows, created = [], {}
    at = dt.datetime.now(dt.UTC)
    shared = hash_password(password) if password else None  # one slow hash, not six
    for username, (role, name, scopes, unit, phone) in D.DEMO_USERS.items():
        secret = password or secrets.token_urlsafe(12)
        created[username] = (role, secret)
        rows.append({"id": demo_id("user", username), "username": username, "name": name,
                     "role": role, "phone": phone, "unit": unit,
                     "password_hash": shared or hash_password(secret), "scopes": scopes,
                     "scope_version": 1, "disabled": False, "created_at": at, "updated_at": at})
    return rows, created


def _regions() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"code": D.PROVINCE[0], "name": D.PROVINCE[1], "level": "province", "parent_code": None},
        {"code": D.CITY[0], "name": D.CITY[1], "level": "city", "parent_code": D.PROVINCE[0]},
        {"code": D.COUNTY[0], "name": D.COUNTY[1], "level": "county", "parent_code": D.CITY[0]},
    ]
    rows += [{"code": c, "name": n, "level": "township", "parent_code": D.COUNTY[0]}
             for c, n in D.TOWNSHIPS]
    rows += [{"code": c, "name": n, "level": "village", "parent_code": c[:9] + "000"}
             for c, n, _s in D.VILLAGES]
    return rows


def is_seeded(conn: Connection) -> bool:
    users = User.__table__  # type: ignore[attr-defined]
    return conn.execute(
        sa.select(sa.func.count()).select_from(users).where(users.c.username == MARKER_USER)
    ).scalar_one() > 0


def build_records(today: dt.date) -> _Records:
    """Every synced record of the demo county, without touching the database."""
    user_ids = {u: demo_id("user", u) for u in D.DEMO_USERS}
    builder = _Builder(today, user_ids)
    townships = dict(D.TOWNSHIPS)
    for village, name, surname in D.VILLAGES:
        township = townships[village[:9] + "000"]
        for n in range(D.HOUSEHOLDS_PER_VILLAGE):
            builder.household(village, township, name, surname, n)
    add_procedures(builder.records.rows, builder.records.add, today, user_ids,
                   {y: float(a) for y, a in MONITORING_LINES.items()})
    return builder.records


def seed_demo(engine: Engine, password: str | None = None,
              today: dt.date | None = None) -> dict[str, tuple[str, str]] | None:
    """Write the demo county; returns {username: (role, password)}, or None if already there."""
    today = today or china_today()
    with engine.connect() as conn:
        if is_seeded(conn):
            return None
    records = build_records(today)
    user_rows, created = _users(password)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(411702)"))
            if is_seeded(conn):
                return None
            conn.execute(
                pg_insert(ChecklistTemplate.__table__)  # type: ignore[attr-defined]
                .values([{**t.to_dict(), "active": True, "updated_at": dt.datetime.now(dt.UTC)}
                         for t in TEMPLATES.values()])
                .on_conflict_do_nothing()
            )
            _insert(conn, User.__table__, user_rows)  # type: ignore[attr-defined]
            existing = set(conn.execute(sa.select(Region.__table__.c.code)).scalars())  # type: ignore[attr-defined]
            _insert(conn, Region.__table__,  # type: ignore[attr-defined]
                    [r for r in _regions() if r["code"] not in existing])
            conn.execute(
                pg_insert(CountyPolicy.__table__)  # type: ignore[attr-defined]
                .values(county_code=D.COUNTY_CODE, visit_interval_days=60,
                        monitored_visit_interval_days=30, stale_after_days=180,
                        checklist_template=WUQING_V1.code, notice_days=5,
                        entry_deadline_days=15, min_monitored_days=180,
                        monitoring_lines={str(y): a for y, a in MONITORING_LINES.items()},
                        updated_at=dt.datetime.now(dt.UTC))
                .on_conflict_do_nothing()
            )
            lines = [{"province": "41", "year": y, "amount": a, "monitoring_amount": None}
                     for y, a in INCOME_LINES.items()]
            lines += [{"province": "41", "year": y, "amount": a, "monitoring_amount": a}
                      for y, a in MONITORING_LINES.items()]
            conn.execute(
                pg_insert(IncomeLine.__table__)  # type: ignore[attr-defined]
                .values(lines).on_conflict_do_nothing()
            )
            for entity, table in SYNCED_TABLES.items():
                _insert(conn, table.__table__, records.rows[entity])  # type: ignore[attr-defined]
            _insert(conn, ChangeLog.__table__, records.log)  # type: ignore[attr-defined]
    except IntegrityError:
        return None  # another process seeded at the same moment
    return created
