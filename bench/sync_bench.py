"""Sync benchmark: push throughput, initial village pull, incremental pull (prints figures only).

    python bench/sync_bench.py            # a county of 20 villages x 1,000 households
    python bench/sync_bench.py --quick    # 2 villages, fewer batches (about a minute)

Uses ``DATABASE_URL`` when set (a fresh database is created on that server), else an embedded
Postgres in a temporary directory. The first village is built by the demo generator
(``server.demo._Builder``: members, incomes, measures, helpers, events, visits, 五清 items, change
log); the other villages are copies made in SQL with fresh ids, so loading stays fast.

Measured (the targets of docs/performance.md printed beside them):
  (a) changes/s for pushes of 500 changes (updates of existing records + creates), change log and
      receipts included — one device: through HTTP in-process (TestClient) and the service
      function directly; many devices at once: a real ``ruhu serve --workers N`` (2 and 4) with N
      devices pushing over HTTP; beside them a plain ``UPDATE ... FROM unnest`` yardstick;
  (b) time and bytes on the wire (what the server sent, gzip and zstd) of the initial pull of
      one 1,000-household village;
  (c) incremental pull time after N changes, N in (10, 100, 1000).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
import uuid6

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server import demo  # noqa: E402
from server import demo_data as D  # noqa: E402
from server.db import embedded, migrate  # noqa: E402
from server.db.engine import make_engine  # noqa: E402
from server.db.tables import SYNCED_TABLES, ChangeLog, Device, User  # noqa: E402
from server.scope import Principal  # noqa: E402
from server.security import hash_password  # noqa: E402
from server.sessions import start_session  # noqa: E402
from server.settings import Settings  # noqa: E402
from server.sync.values import FIELDS, TABLES  # noqa: E402
from sync_protocol.policy import china_today  # noqa: E402
from sync_protocol.wire import MAX_COLUMN_PULL_LIMIT  # noqa: E402

BENCH_SECRET = "bench-" + "x" * 40

HEADERS = {"X-Ruhu-Protocol": "1", "X-Ruhu-App-Version": "0.1.0"}
TARGET_PUSH = 10_000
TARGET_PUSH_RATIO = 0.25  # issue 17: push --workers 4 against the yardstick
TARGET_PULL_S = 1.0  # issue 17: whole-file village <= 1.0 s server time, <= 1.5 MB wire
TARGET_PULL_WIRE = 1_500_000
BATCH = 500
YARDSTICK_REPS = 100  # about 1.5 s (bench_reference_update)


def villages(count: int) -> list[str]:
    """Village codes of the bench county: 10 per township, townships 105, 106, ..."""
    return [f"411702{105 + i // 10:03d}{201 + i % 10:03d}" for i in range(count)]


# --- database and data ------------------------------------------------------------------------


def database() -> tuple[str, Any]:
    """A fresh database URL (and the embedded server to keep alive, if any)."""
    base = os.environ.get("DATABASE_URL")
    server = None
    if base:
        base = embedded.sqlalchemy_url(base)
    else:
        tmp = Path(tempfile.mkdtemp(prefix="ruhu-bench-pg-"))
        server, base = embedded.start(tmp / "pg", cleanup_mode="delete")
    name = f"ruhu_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = embedded.database_url(base, name)
    migrate.upgrade(url)
    return url, server


def mature_maps(engine: Any) -> None:
    """Every record's per-field version and clock maps as a county's look after months of
    edits: an entry for each of its entity's fields (the demo's records only hold the 6-14 fields
    set when they were made). What a record update costs depends on their size wherever the
    maps are rewritten (they were until migration 0016)."""
    clock = "0001764000000000-0000-bench-mature"
    with engine.begin() as conn:
        for entity, table in TABLES.items():
            conn.execute(sa.text(
                f'UPDATE "{table.name}" SET field_versions = CAST(:v AS jsonb) || field_versions, '
                "field_hlcs = CAST(:h AS jsonb) || field_hlcs"),
                {"v": json.dumps({f: 1 for f in FIELDS[entity]}),
                 "h": json.dumps({f: clock for f in FIELDS[entity]})})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM FULL ANALYZE"))


def load_county(engine: Any, codes: list[str]) -> dict[str, int]:
    """The first village from the demo generator, the others copied in SQL."""
    first = codes[0]
    user_ids = {u: demo.demo_id("user", u) for u in D.DEMO_USERS}
    builder = demo._Builder(china_today(), user_ids)  # the demo's own day: China's
    for n in range(1000):
        builder.household(first, "古城乡", "张庄村", "张", n)
    rows = builder.records.rows
    _tablet_ids(rows, builder.records.log)
    for entity in rows:
        for row in rows[entity]:
            row["village_code"] = first
    for row in builder.records.log:
        row["village_code"] = first
    with engine.begin() as conn:
        for entity, table in SYNCED_TABLES.items():
            demo._insert(conn, table.__table__, rows[entity])
        demo._insert(conn, ChangeLog.__table__, builder.records.log)
    others = codes[1:]
    if others:
        with engine.begin() as conn:
            for table in SYNCED_TABLES.values():
                copy_rows(conn, table.__table__, others)
            copy_rows(conn, ChangeLog.__table__, others, skip=("id",))
    # a county in steady state is vacuumed: without this, autovacuum would start on the freshly
    # loaded tables in the middle of the measurements
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
    with engine.connect() as conn:
        return {e: conn.execute(sa.text(f"SELECT count(*) FROM {t.__tablename__}")).scalar_one()
                for e, t in [*SYNCED_TABLES.items(), ("change_log", ChangeLog)]}


def _uuid7(ms: int, rnd: random.Random) -> uuid.UUID:
    """A UUIDv7 (RFC 9562) of the given Unix time in ms: what a tablet or the import makes."""
    value = (ms & (2**48 - 1)) << 80 | 0x7 << 76 | rnd.getrandbits(12) << 64
    return uuid.UUID(int=value | 0b10 << 62 | rnd.getrandbits(62))


def _tablet_ids(rows: dict[str, list[dict[str, Any]]], log: list[dict[str, Any]]) -> None:
    """Give the demo village's records the ids real ones have. The demo generator makes uuid5
    ids (deterministic, but random-looking), while tablets create records with UUIDv7 and the
    roster import does too: a time prefix then random bits, which matters for the pull's size
    (hex ids are most of what does not compress). A household's records are taken to have been
    entered in one sitting of up to half an hour, a household every ten minutes, from the day
    the demo says; references (household, member, helper assignment, visit) follow."""
    rnd = random.Random(17)
    new: dict[uuid.UUID, uuid.UUID] = {}
    sitting: dict[uuid.UUID, int] = {}
    for entity in sorted(rows, key=lambda e: e != "household"):  # households first
        for row in rows[entity]:
            hh = row["id"] if entity == "household" else row["household_id"]
            if hh not in sitting:
                start = int(row["created_at"].timestamp() * 1000)
                sitting[hh] = start + len(sitting) * 600_000
            new[row["id"]] = _uuid7(sitting[hh] + rnd.randrange(1_800_000), rnd)
    for entity in rows:
        for row in rows[entity]:
            for key, value in row.items():
                if isinstance(value, uuid.UUID) and value in new:
                    row[key] = new[value]
    for row in log:
        for key in ("record_id", "household_id"):
            if row.get(key) in new:
                row[key] = new[row[key]]


def _remap(column: str) -> str:
    return (f"CASE WHEN t.{column} IS NULL THEN NULL "
            f"ELSE md5(t.{column}::text || d.v)::uuid END")


def copy_rows(conn: Any, table: sa.Table, others: list[str], *, source: str | None = None,
              skip: tuple[str, ...] = ("txid",)) -> None:
    """Copy ``table``'s rows (those of the ``source`` village, or all) into each of ``others``
    with fresh ids; record references follow. ``skip``: columns left to their defaults (a
    record's txid: the copying transaction's, as a real write would have)."""
    cols, exprs = [], []
    for c in table.c:
        if c.name in skip:
            continue
        cols.append(f'"{c.name}"')
        if c.name in ("id", "household_id", "member_id", "record_id"):
            exprs.append(_remap(c.name))
        elif c.name == "village_code":
            exprs.append("d.v")
        else:
            exprs.append(f't."{c.name}"')
    where = " WHERE t.village_code = :source" if source else ""
    conn.execute(sa.text(
        f"INSERT INTO {table.name} ({', '.join(cols)}) SELECT {', '.join(exprs)} "
        f"FROM {table.name} t CROSS JOIN unnest(CAST(:others AS text[])) AS d(v){where}"
    ), {"others": others, "source": source})


def make_device(engine: Any, username: str, role: str, scopes: list[str],
                device_id: str) -> tuple[Principal, dict[str, str]]:
    user = User(username=username, name=username, role=role, scopes=scopes,
                password_hash=hash_password("bench-Passw0rd"))
    from sqlmodel import Session

    with Session(engine, expire_on_commit=False) as session:
        session.add(user)
        session.flush()
        session.add(Device(device_id=device_id, user_id=user.id))
        session.flush()
        token = start_session(session, Settings(environment="test", secret_key=BENCH_SECRET,
                                                token_ttl_seconds=36000),
                              user.id, device_id, 1)
        session.commit()
    principal = Principal(user.id, username, username, role, tuple(scopes), device_id, 1)
    return principal, {"Authorization": f"Bearer {token}", **HEADERS}


# --- change generation ------------------------------------------------------------------------


class Changes:
    """Batches of updates of existing records (each touched once) plus creates.

    Change ids and new record ids are UUIDv7, as the tablet makes them (kivy_client/store.py;
    the protocol recommends v7): time-ordered keys go to the right edge of the receipts' and
    records' indexes. Random v4 ids cost Postgres about 15 ms more per batch
    (docs/performance.md)."""

    UPDATES = {
        "household": lambda r, i: {"phone": f"139{i:08d}", "address": f"张庄村{i}号",
                                   "poverty_status": r.choice(["exited", "not_exited"])},
        "member": lambda r, i: {"health": [r.choice(["healthy", "chronic"])],
                                "migrant_place": f"郑州{i}"},
        # a visit is only editable by its author on its day (sync_protocol.visits): the demo's
        # past visits would all be refused, so the mix edits 帮扶措施 instead
        "measure": lambda r, i: {"provider": f"水屯镇农业服务中心{i}"},
        "checklist_item": lambda r, i: {"verdict": r.choice(["clear", "unclear"]),
                                        "note": f"已核实{i}"},
    }

    def __init__(self, engine: Any, village: str, device_id: str, ahead: bool = False) -> None:
        """``ahead``: every batch is made before the first is pushed (the ``--workers`` runs).
        A record met again in a later pass then gets the base version the tablet would have
        learned from its own earlier change's answer (the stored one + 1 per own change), not
        the stale one the database still shows: a tablet always knows its own writes."""
        self.ahead = ahead
        self.own: Counter[str] = Counter()
        self.rnd = random.Random(7)
        self.device_id = device_id
        self.village = village
        self.seq = 0
        self.n = 0
        self.engine = engine
        self.pool: dict[str, list[tuple[str, int]]] = {e: [] for e in self.UPDATES}

    def _refill(self, entity: str) -> None:
        """Records not yet touched by this generator's current pass, with their versions."""
        table = SYNCED_TABLES[entity].__tablename__
        # 村书记心里清 is the 村书记's verdict alone (a cadre's edit of it is rejected)
        only = " AND item_code <> 'secretary_knows'" if entity == "checklist_item" else ""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.text(
                f"SELECT id, version FROM {table} WHERE village_code = :v AND NOT deleted{only}"
            ), {"v": self.village}).all()
        self.pool[entity] = [(str(r.id), r.version) for r in rows]
        self.rnd.shuffle(self.pool[entity])

    def _change(self, entity: str, rid: str, base: int | None, fields: dict[str, Any]
                ) -> dict[str, Any]:
        self.seq += 1
        return {"change_id": str(uuid6.uuid7()), "seq": self.seq, "entity": entity,
                "record_id": rid, "op": "upsert", "base_version": base, "fields": fields,
                "hlc": f"{int(time.time() * 1000):013d}-{self.seq % 10000:04d}-{self.device_id}"}

    def updates(self, count: int) -> list[dict[str, Any]]:
        out = []
        mix = ["household", "member", "member", "measure", "checklist_item"]
        for i in range(count):
            entity = mix[i % len(mix)]
            if not self.pool[entity]:
                self._refill(entity)
            rid, base = self.pool[entity].pop()
            if self.ahead:
                base += self.own[rid]
                self.own[rid] += 1
            self.n += 1
            out.append(self._change(entity, rid, base, self.UPDATES[entity](self.rnd, self.n)))
        return out

    def creates(self, households: int) -> list[dict[str, Any]]:
        out = []
        for _ in range(households):
            self.n += 1
            hh = str(uuid6.uuid7())
            out.append(self._change("household", hh, None, {
                "village_code": self.village, "head_name": f"新户{self.n}",
                "group_name": "一组", "poverty_status": "none"}))
            out.append(self._change("member", str(uuid6.uuid7()), None, {
                "household_id": hh, "name": f"新户{self.n}", "relation": "head"}))
        return out

    def batch(self) -> list[dict[str, Any]]:
        changes = self.updates(BATCH - 100) + self.creates(50)
        return changes


def body(device_id: str, changes: list[dict[str, Any]]) -> bytes:
    return json.dumps({"protocol": 1, "device_id": device_id, "changes": changes},
                      ensure_ascii=False).encode()


# --- measurements -----------------------------------------------------------------------------


def bench_push(engine: Any, client: Any, principal: Principal, headers: dict[str, str],
               village: str, batches: int) -> dict[str, Any]:
    from sqlmodel import Session

    from server.sync import push as push_service

    gen = Changes(engine, village, principal.device_id)
    out: dict[str, Any] = {}
    statuses: Counter[str] = Counter()
    with Session(engine, expire_on_commit=False) as session:  # warm-up, not timed
        push_service.push(session, principal, body(principal.device_id, gen.batch()))
        session.commit()
    for mode in ("http", "service"):
        times = []
        for _ in range(batches):
            payload = body(principal.device_id, gen.batch())
            if mode == "http":
                t0 = time.perf_counter()
                resp = client.post("/api/v1/sync/push", content=payload,
                                   headers={**headers, "Content-Type": "application/json"})
                times.append(time.perf_counter() - t0)
                assert resp.status_code == 200, resp.text[:500]
                results = resp.json()["results"]
            else:
                t0 = time.perf_counter()
                with Session(engine, expire_on_commit=False) as session:
                    results = push_service.push(session, principal, payload)["results"]
                    session.commit()
                times.append(time.perf_counter() - t0)
            statuses.update(r["status"] for r in results)
        out[mode] = {"batches": batches, "median_s": statistics.median(times),
                     "changes_per_s": BATCH * batches / sum(times)}
    out["statuses"] = dict(statuses)
    return out


@contextmanager
def live_server(url: str, workers: int) -> Iterator[str]:
    """``ruhu serve --workers N`` on the bench database, as an admin would run it."""
    import subprocess

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": url, "RUHU_SECRET_KEY": BENCH_SECRET,
           "RUHU_ENVIRONMENT": "test", "RUHU_WORKERS": str(workers)}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from server.cli import app; app()", "serve", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("ruhu serve did not start")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _cpu_seconds(procs: list[Any]) -> float:
    """User + system CPU seconds of ``procs`` (psutil processes) so far; gone ones count 0."""
    import psutil

    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def _cpu_groups() -> dict[str, list[Any]]:
    """This machine's processes the push costs: the ``ruhu serve`` tree started by the bench
    (its children) and Postgres (every ``postgres`` process; none when the database is on
    another machine)."""
    import psutil

    def name(proc: Any) -> str:
        try:
            return str(proc.name())
        except psutil.Error:
            return ""

    server = [p for p in psutil.Process().children(recursive=True) if "postgres" not in name(p)]
    postgres = [p for p in psutil.process_iter() if name(p) == "postgres"]
    return {"server": server, "postgres": postgres}


def bench_push_server(engine: Any, url: str, codes: list[str], workers: int, tablets: int,
                      batches: int) -> dict[str, Any]:
    """A real ``ruhu serve --workers N`` and ``tablets`` devices, each of its own village,
    pushing 500-change batches over HTTP at the same time (each device one push after the
    other, as the tablet app does). The devices run here, on the same two cores."""
    import threading

    import httpx

    work = []
    for n in range(tablets):
        village = codes[(n + 2) % len(codes)]
        principal, headers = make_device(engine, f"bench_w{workers}_t{n}", "village_cadre",
                                         [village], f"bench-w{workers}-t{n}")
        gen = Changes(engine, village, principal.device_id, ahead=True)
        work.append((headers, [body(principal.device_id, gen.batch())
                               for _ in range(batches + 1)]))
    with engine.connect() as conn:  # a serving database holds its villages' pages in memory
        for n in range(tablets):
            for table in ("household", "member", "visit", "checklist_item"):
                conn.execute(sa.text(f"SELECT sum(length(t::text)) FROM {table} t "
                                     "WHERE village_code = :v"), {"v": codes[(n + 2) % len(codes)]})
    counts: list[Counter[str]] = []
    elapsed: list[float] = []
    gate = threading.Barrier(tablets + 1)  # the tablets, warmed up, and the CPU count here

    def tablet(headers: dict[str, str], payloads: list[bytes], http: httpx.Client) -> None:
        statuses: Counter[str] = Counter()
        counts.append(statuses)

        def push(payload: bytes) -> None:
            # a connection per push, as tablets reconnect between syncs: the workers' shared
            # socket then spreads pushes over them (a kept-alive connection stays on one worker)
            resp = http.post("/api/v1/sync/push", content=payload,
                             headers={**headers, "Content-Type": "application/json",
                                      "Connection": "close"})
            assert resp.status_code == 200, resp.text[:300]
            statuses.update(r["status"] for r in orjson.loads(resp.content)["results"])

        push(payloads[0])  # warm-up, not timed: connections, caches, the village's pages
        gate.wait()
        gate.wait()
        t0 = time.perf_counter()
        for payload in payloads[1:]:
            push(payload)
        elapsed.append(time.perf_counter() - t0)

    with live_server(url, workers) as base:
        clients = [httpx.Client(base_url=base, timeout=120) for _ in work]
        threads = [threading.Thread(target=tablet, args=(h, p, c))
                   for (h, p), c in zip(work, clients, strict=True)]
        wal_before = wal_stats(engine)  # the warm-up pushes count too (``pushes`` below)
        for t in threads:
            t.start()
        gate.wait()
        groups = _cpu_groups()
        cpu_before = {k: _cpu_seconds(v) for k, v in groups.items()}
        own_before = time.process_time()
        gate.wait()
        for t in threads:
            t.join()
        own = time.process_time() - own_before
        # backends the workers opened meanwhile count from 0
        groups["postgres"] += [p for p in _cpu_groups()["postgres"] if p not in groups["postgres"]]
        cpu = {k: _cpu_seconds(v) - cpu_before[k] for k, v in groups.items()}
        wal_after = wal_stats(engine)
        for c in clients:
            c.close()
    assert len(elapsed) == tablets, "a tablet failed"
    pushes = tablets * (batches + 1)
    return {"changes_per_s": BATCH * batches * tablets / max(elapsed),
            "statuses": dict(sum(counts, Counter())),
            "wal_kb_per_push": (wal_after[0] - wal_before[0]) / pushes / 1024,
            "full_pages_per_push": (wal_after[1] - wal_before[1]) / pushes,
            "checkpoints": wal_after[2] - wal_before[2],
            "cpu_ms_per_push": {"server": 1000 * cpu["server"] / (tablets * batches),
                                "postgres": 1000 * cpu["postgres"] / (tablets * batches),
                                "tablets": 1000 * own / (tablets * batches)}}


def wal_stats(engine: Any) -> tuple[int, int, int]:
    """WAL bytes and full-page images written so far, and checkpoints started. After a
    checkpoint the first change to each page writes the whole page to the WAL: a burst of
    changes to records each touched once then writes several pages per change."""
    with engine.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT w.wal_bytes::bigint, w.wal_fpi, b.checkpoints_timed + b.checkpoints_req "
            "FROM pg_stat_wal w, pg_stat_bgwriter b")).one()
    return int(row[0]), int(row[1]), int(row[2])


def bench_reference_update(engine: Any, village: str) -> float:
    """Rows/s of a plain batched ``UPDATE ... FROM unnest(...)`` of 500 members (rolled back):
    the machine's yardstick the push figure is compared with. The median of
    ``YARDSTICK_REPS`` statements: single statements spread from 30,000 to 45,000 rows/s on a
    quiet machine, and the median of 7 moved by ±15 % between two calls a minute apart."""
    with engine.connect() as conn:
        ids = [str(r[0]) for r in conn.execute(sa.text(
            "SELECT id FROM member WHERE village_code = :v LIMIT 500"), {"v": village})]
        times = []
        for _ in range(YARDSTICK_REPS):
            t0 = time.perf_counter()
            conn.execute(sa.text(
                "UPDATE member t SET version = t.version + 1, updated_device = x.d "
                "FROM unnest(CAST(:ids AS uuid[]), CAST(:ds AS text[])) AS x(id, d) "
                "WHERE t.id = x.id"), {"ids": ids, "ds": ["bench"] * len(ids)})
            times.append(time.perf_counter() - t0)
            conn.rollback()
    return len(ids) / statistics.median(times)


def pull_all(client: Any, headers: dict[str, str], cursor: str | None = None,
             limit: int = 2000, accept: str = "gzip", form: str = "rows") -> dict[str, Any]:
    """Pull pages until done, asking for ``accept``; wall time, bytes on the wire (as the server
    sent them), bytes of JSON, records, and the codings the server chose."""
    wall = wire = raw = pages = 0.0
    counts: Counter[str] = Counter()
    gz = 0
    codings: Counter[str] = Counter()
    while True:
        params: dict[str, Any] = {"limit": limit, "form": form}
        if cursor:
            params["cursor"] = cursor
        t0 = time.perf_counter()
        resp = client.get("/api/v1/sync/pull", params=params,
                          headers={**headers, "Accept-Encoding": accept})
        wall += time.perf_counter() - t0
        assert resp.status_code == 200, resp.text[:500]
        pages += 1
        wire += resp.num_bytes_downloaded
        raw += len(resp.content)
        gz += len(gzip.compress(resp.content, 6))
        codings[resp.headers.get("content-encoding", "identity")] += 1
        page = resp.json()
        if "columns" in page:
            counts.update({block["entity"]: block["count"] for block in page["columns"]})
        else:
            counts.update(c["entity"] for c in page["changes"])
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    sent = ", ".join(f"{name} {n}/{int(pages)}" for name, n in codings.items())
    return {"wall_s": wall, "pages": int(pages), "wire_bytes": int(wire), "json_bytes": int(raw),
            "gzip_bytes": gz, "records": dict(counts), "cursor": cursor, "server_sent": sent}


def pull_service_time(engine: Any, principal: Principal, cursor: str | None = None,
                      limit: int = 2000, form: str = "rows") -> dict[str, float]:
    """Server time of the same pull without HTTP: ``pull_json`` page after page, and the time of
    compressing those pages as the sync route does for a gzip and for a zstd client."""
    from server.api.routes.sync import BIG_PAGE_BYTES, PULL_COLUMN_LEVELS, PULL_LEVELS
    from server.sync.encoding import encode
    from server.sync.pull import pull_json

    total = 0.0
    packing = {"gzip": 0.0, "zstd": 0.0}
    while True:
        t0 = time.perf_counter()
        data = pull_json(engine, principal, cursor, limit, form)
        total += time.perf_counter() - t0
        levels = PULL_COLUMN_LEVELS if form == "columns" and len(data) >= BIG_PAGE_BYTES \
            else PULL_LEVELS  # as the route chooses
        for coding in packing:
            t0 = time.perf_counter()
            encode(data, coding, levels)
            packing[coding] += time.perf_counter() - t0
        page = json.loads(data)
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return {"pull_json": total, **packing}


def bench_incremental(engine: Any, client: Any, principal: Principal, headers: dict[str, str],
                      village: str, cursor: str) -> list[dict[str, Any]]:
    from sqlmodel import Session

    from server.sync import push as push_service

    gen = Changes(engine, village, principal.device_id + "-w")
    gen.device_id = principal.device_id
    out = []
    for n in (10, 100, 1000):
        for start in range(0, n, BATCH):
            with Session(engine) as session:
                push_service.push(session, principal,
                                  body(principal.device_id, gen.updates(min(BATCH, n - start))))
                session.commit()
        service = pull_service_time(engine, principal, cursor)["pull_json"]
        res = pull_all(client, headers, cursor)
        cursor = res["cursor"]
        out.append({"n": n, "http_s": res["wall_s"], "service_s": service,
                    "records": sum(res["records"].values()), "gzip_bytes": res["gzip_bytes"]})
    return out


def update_counts(engine: Any) -> dict[str, tuple[int, int]]:
    """Per record table: updates and heap-only (HOT) updates so far (statistics are reported by
    each backend when it goes idle or exits)."""
    names = ", ".join(f"'{t.__tablename__}'" for t in SYNCED_TABLES.values())
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
        return {r[0]: (int(r[1]), int(r[2])) for r in conn.execute(sa.text(
            "SELECT relname, n_tup_upd, n_tup_hot_upd "
            f"FROM pg_stat_user_tables WHERE relname IN ({names})"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 villages, 3 batches per mode")
    parser.add_argument("--villages", type=int, help="villages of 1,000 households (default 20)")
    parser.add_argument("--batches", type=int, help="500-change batches per push mode")
    parser.add_argument("--mature-maps", action="store_true",
                        help="records' per-field maps with an entry for every field, as in a "
                             "county after months of edits (default: the demo's young records)")
    args = parser.parse_args()
    n_villages = args.villages or (2 if args.quick else 20)
    batches = args.batches or (3 if args.quick else 10)

    url, server = database()
    engine = make_engine(url, pool_size=5)
    codes = villages(n_villages)
    t0 = time.perf_counter()
    counts = load_county(engine, codes)
    if args.mature_maps:
        mature_maps(engine)
    print(f"loaded {n_villages} villages in {time.perf_counter() - t0:.0f} s: {counts}"
          + (" (per-field maps of every field)" if args.mature_maps else ""))

    from fastapi.testclient import TestClient

    from server.app import create_app

    app = create_app(Settings(environment="test", secret_key=BENCH_SECRET,
                              database_url=None), engine)
    village = codes[0]
    cadre, cadre_h = make_device(engine, "bench_cadre", "village_cadre", [village], "bench-tab")
    core: tuple[Any, Any] = (None, None)
    if len(codes) > 1:  # the same village without incomes, measures, helpers and events
        with engine.begin() as conn:
            for table in ("income_item", "measure", "helper_assignment", "status_event"):
                conn.execute(sa.text(f"DELETE FROM {table} WHERE village_code = :v"),
                             {"v": codes[1]})
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE income_item, measure, helper_assignment, "
                                 "status_event"))  # else plans and dead rows distort the figure
        core = make_device(engine, "bench_core", "village_cadre", [codes[1]], "bench-core")
    with TestClient(app) as client:
        for label, (principal, headers) in [("whole file", (cadre, cadre_h)),
                                            ("households, members, visits, 五清 only", core)]:
            if principal is None:
                continue
            print(f"\n(b) initial pull of one 1,000-household village, {label} "
                  "(limit 2000 per page)")
            pull_service_time(engine, principal)  # warm the caches once
            service = pull_service_time(engine, principal)
            res = pull_all(client, headers)
            print(f"    records {sum(res['records'].values())} {res['records']}")
            print(f"    pages {res['pages']}, HTTP wall {res['wall_s']:.3f} s, server time "
                  f"(pull_json) {service['pull_json']:.3f} s   target < {TARGET_PULL_S} s")
            print(f"    JSON {res['json_bytes'] / 1e6:.2f} MB   target on the wire < "
                  f"{TARGET_PULL_WIRE / 1e6:.1f} MB")
            for accept, coding in (("gzip", "gzip"), ("zstd, gzip", "zstd")):
                sent = res if accept == "gzip" else pull_all(client, headers, accept=accept)
                print(f"    Accept-Encoding: {accept:10} on the wire "
                      f"{sent['wire_bytes'] / 1e6:.2f} MB (server sent {sent['server_sent']}),"
                      f" compressing {service[coding]:.3f} s of server time, HTTP wall "
                      f"{sent['wall_s']:.3f} s")
            if label != "whole file":
                continue
            limit = MAX_COLUMN_PULL_LIMIT
            print(f"    column form, pages of {limit:,} (what the tablet asks for its first "
                  "download):")
            pull_service_time(engine, principal, limit=limit, form="columns")
            service = pull_service_time(engine, principal, limit=limit, form="columns")
            for accept, coding in (("gzip", "gzip"), ("zstd, gzip", "zstd")):
                sent = pull_all(client, headers, limit=limit, accept=accept, form="columns")
                print(f"    Accept-Encoding: {accept:10} {sent['pages']} pages, "
                      f"{sum(sent['records'].values())} records, on the wire "
                      f"{sent['wire_bytes'] / 1e6:.2f} MB (server sent {sent['server_sent']}); "
                      f"server time (pull_json) {service['pull_json']:.3f} s + compressing "
                      f"{service[coding]:.3f} s = {service['pull_json'] + service[coding]:.3f} s"
                      f"   targets < {TARGET_PULL_S} s, < {TARGET_PULL_WIRE / 1e6:.1f} MB")
        res = pull_all(client, cadre_h)

        print("\n(c) incremental pull after N changes (from the cursor of (b))")
        for row in bench_incremental(engine, client, cadre, cadre_h, village, res["cursor"]):
            print(f"    N={row['n']:>5}: records {row['records']:>5}, HTTP {row['http_s']:.4f} s,"
                  f" server {row['service_s']:.4f} s, gzip {row['gzip_bytes'] / 1e3:.1f} kB")

        print(f"\n(a) push, {batches} batches of {BATCH} changes per mode "
              f"(400 updates of distinct records + 50 households + 50 members)")
        counts_before = update_counts(engine)
        before = bench_reference_update(engine, village)
        print(f"    yardstick before the pushes: {before:,.0f} rows/s (the ratio uses the one "
              "measured after them, below)")
        push = bench_push(engine, client, cadre, cadre_h, village, batches)
        for mode in ("http", "service"):
            p = push[mode]
            print(f"    {mode:8}: {p['changes_per_s']:,.0f} changes/s, median batch "
                  f"{p['median_s'] * 1000:.0f} ms   target >= {TARGET_PUSH:,} changes/s")
        print(f"    statuses {push['statuses']}")
        parallel: dict[int, float] = {}
        for workers in (2, 4):
            if len(codes) < workers + 2:
                continue
            par = bench_push_server(engine, url, codes, workers, workers, batches)
            parallel[workers] = par["changes_per_s"]
            print(f"    ruhu serve --workers {workers}, {workers} tablets (own villages) pushing "
                  f"over HTTP at once: {par['changes_per_s']:,.0f} changes/s in total   target "
                  f">= {TARGET_PUSH:,}; statuses {par['statuses']}")
            cpu = par["cpu_ms_per_push"]
            print(f"      CPU per push: server processes {cpu['server']:.1f} ms, Postgres "
                  f"{cpu['postgres']:.1f} ms, the bench's tablet threads {cpu['tablets']:.1f} ms "
                  "(less sensitive to other load than changes/s)")
            print(f"      WAL {par['wal_kb_per_push']:,.0f} kB per push, "
                  f"{par['full_pages_per_push']:,.0f} of them full-page images; "
                  f"checkpoints started meanwhile: {par['checkpoints']}")
        time.sleep(2)  # let the last backends report their statistics
        after = update_counts(engine)
        delta = {t: (a[0] - counts_before.get(t, (0, 0))[0], a[1] - counts_before.get(t, (0, 0))[1])
                 for t, a in after.items()}
        upd, hot = sum(d[0] for d in delta.values()), sum(d[1] for d in delta.values())
        print(f"    record updates during the pushes: {upd:,}, heap-only (HOT) {hot:,} "
              f"({hot / max(upd, 1):.0%}): " + ", ".join(
                  f"{t} {h / u:.0%}" for t, (u, h) in sorted(delta.items()) if u))
        yardstick = bench_reference_update(engine, village)
        print(f"    yardstick: plain batched UPDATE ... FROM unnest of 500 members "
              f"{yardstick:,.0f} rows/s on this machine now "
              "(about 40,000 where the targets were set)")
        if 4 in parallel:
            print(f"    push --workers 4 / yardstick = {parallel[4] / yardstick:.3f}   target >= "
                  f"{TARGET_PUSH_RATIO} (against the yardstick before the pushes: "
                  f"{parallel[4] / before:.3f})")
    engine.dispose()
    if server is not None:
        server.cleanup()


if __name__ == "__main__":
    main()
