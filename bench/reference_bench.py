"""What the reference data costs the server (prints only).

    python bench/reference_bench.py                 # 10 counties of 400 villages, ~12,400 users
    python bench/reference_bench.py --counties 2 --runs 10   # quick

Since every sync round's first page may carry the reference data (docs/protocol.md, Reference
data), the server builds it once per round for a tablet that names its tag. Printed, for a
village cadre, a township clerk and a county admin of the first county: the server time of
``reference_payload`` (regions, templates, income lines, policy, staff, labels) and of its tag
(canonical JSON + SHA-256), the payload's JSON and zstd size, and the server time of one empty
incremental pull page (``pull_json``, the first page of a round) with and without a tag — the
difference is what the check adds to each sync round. Medians after one warm-up.

The province holds ``--counties`` counties of 20 townships x 20 villages; each village has a
village cadre, a 村党支部书记 and a 驻村第一书记, each township two clerks, each county two
admins, five template versions of its own and a policy; the province has twelve years of
income lines.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import zstandard
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.sync_bench import database  # noqa: E402
from server.db.engine import make_engine  # noqa: E402
from server.db.tables import (  # noqa: E402
    ChecklistTemplate,
    CountyPolicy,
    IncomeLine,
    Region,
    User,
    utcnow,
)
from server.reference import ensure_defaults, reference_payload, reference_tag  # noqa: E402
from server.scope import Principal  # noqa: E402
from server.sync.pull import pull_json  # noqa: E402
from sync_protocol.templates import WUQING_V1  # noqa: E402


def load(engine: Any, counties: int) -> dict[str, Any]:
    """The province; returns the scopes of the first county's users by role."""
    ensure_defaults(engine)
    regions = [Region(code="410000000000", name="河南省", level="province", parent_code=None),
               Region(code="411700000000", name="驻马店市", level="city",
                      parent_code="410000000000")]
    users: list[dict[str, Any]] = []
    templates, policies = [], []
    first: dict[str, str] = {}
    for c in range(counties):
        county = f"4117{2 + c:02d}"
        regions.append(Region(code=county + "000000", name=f"第{c + 1}县", level="county",
                              parent_code="411700000000"))
        users += [{"role": "county_admin", "scopes": [county]} for _ in range(2)]
        for t in range(20):
            township = f"{county}{101 + t:03d}"
            regions.append(Region(code=township + "000", name=f"第{t + 1}乡",
                                  level="township", parent_code=county + "000000"))
            users += [{"role": "township_clerk", "scopes": [township]} for _ in range(2)]
            for v in range(20):
                village = f"{township}{201 + v:03d}"
                regions.append(Region(code=village, name=f"第{v + 1}村", level="village",
                                      parent_code=township + "000"))
                users += [{"role": role, "scopes": [village]} for role in (
                    "village_cadre", "village_secretary", "first_secretary")]
                first.setdefault("village", village)
            first.setdefault("township", township)
        first.setdefault("county", county)
        for n in range(1, 6):
            data = WUQING_V1.to_dict()
            templates.append(ChecklistTemplate(code=f"{county}.wuqing.v{n}",
                                               name=f"五清（第{n}版）", items=data["items"]))
        policies.append(CountyPolicy(county_code=county, checklist_template=f"{county}.wuqing.v5",
                                     monitoring_lines={"2026": 7600.0}))
    with Session(engine) as s:
        s.add_all(regions + templates + policies)
        s.add_all([IncomeLine(province="41", year=y, amount=4000.0 + 100 * y % 1000,
                              monitoring_amount=6000.0 + y) for y in range(2015, 2027)])
        s.commit()
    with engine.begin() as conn:
        conn.execute(sa.insert(User.__table__), [  # type: ignore[attr-defined]
            {"id": uuid.uuid4(), "username": f"u{i}", "name": f"用户{i}", "role": u["role"],
             "scopes": u["scopes"], "password_hash": "x", "disabled": False, "unit": "某单位",
             "scope_version": 1, "created_at": utcnow(), "updated_at": utcnow()}
            for i, u in enumerate(users)])
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    print(f"loaded {counties} counties: {len(regions)} regions, {len(users)} users, "
          f"{len(templates)} county template versions")
    return first


def median_ms(fn: Any, runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counties", type=int, default=10)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    url, _server = database()
    engine = make_engine(url, pool_size=5)
    first = load(engine, args.counties)
    roles = {"village_cadre": first["village"], "township_clerk": first["township"],
             "county_admin": first["county"]}
    print(f"\nmedian of {args.runs} runs, ms          payload    tag   JSON kB  zstd kB"
          "   pull page (no tag / tag held)")
    for role, scope in roles.items():
        user = Principal(user_id=uuid.uuid4(), username=role, name=role, role=role,
                         scopes=(scope,), device_id="bench", scope_version=1)

        def build(u: Principal = user) -> dict[str, Any]:
            with Session(engine) as session:
                return reference_payload(session, u)

        payload = build()
        raw = json.dumps(payload, ensure_ascii=False).encode()
        packed = zstandard.ZstdCompressor(level=1).compress(raw)
        cursor = json.loads(pull_json(engine, user, None, 500))["next_cursor"]  # drained
        payload_ms = median_ms(build, args.runs)
        tag_ms = median_ms(lambda p=payload: reference_tag(p), args.runs)
        plain_ms = median_ms(lambda u=user, c=cursor: pull_json(engine, u, c, 500), args.runs)
        tagged_ms = median_ms(lambda u=user, c=cursor, t=payload["tag"]: pull_json(
            engine, u, c, 500, reference_tag=t), args.runs)
        print(f"{role:16} {len(payload['staff']):5} staff  {payload_ms:7.1f} {tag_ms:6.2f}"
              f" {len(raw) / 1000:8.1f} {len(packed) / 1000:8.1f}"
              f"   {plain_ms:6.1f} / {tagged_ms:6.1f}")
    engine.dispose()


if __name__ == "__main__":
    main()
