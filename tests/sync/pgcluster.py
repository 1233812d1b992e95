"""A Postgres primary and a synchronous streaming-replication standby, for the failover test.

Built from the binaries shipped in the ``pgserver`` package (``pgserver/pginstall/bin``): ``initdb``
a primary with ``wal_level = replica`` and a ``replicator`` role allowed by a ``pg_hba.conf``
replication line, ``pg_basebackup -R`` it into a standby, start the standby and then make it the
primary's one synchronous standby (``synchronous_standby_names = 'FIRST 1 (standby1)'``,
``synchronous_commit = remote_apply``): a commit the primary acknowledges has been applied on the
standby. ``kill_primary`` stops the primary as a crash would (``pg_ctl stop -m immediate``),
``promote`` turns the standby into a primary (``pg_ctl promote``). Everything lives in a temporary
folder and is stopped on exit. When run as root (as in CI containers) the servers run as the system
user ``pgserver`` that the package itself uses, since Postgres refuses to run as root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.live import free_port

STANDBY_NAME = "standby1"
DATABASE = "ruhu"


def bin_dir() -> Path | None:
    """pgserver's Postgres binaries, or None when the package or a needed binary is missing."""
    try:
        import pgserver
    except ImportError:
        return None
    path = Path(pgserver.__file__).parent / "pginstall" / "bin"
    needed = ("initdb", "pg_ctl", "pg_basebackup", "postgres", "psql")
    return path if all((path / name).exists() for name in needed) else None


def _system_user() -> str | None:
    if os.geteuid() != 0:
        return None
    from pgserver.utils import ensure_user_exists

    ensure_user_exists("pgserver")
    return "pgserver"


@dataclass
class Node:
    """One Postgres server: its data folder, port and log."""

    name: str
    data: Path
    port: int

    @property
    def log(self) -> Path:
        return self.data.parent / f"{self.name}.log"

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"


class Cluster:
    """A primary and its synchronous standby (see the module docstring)."""

    def __init__(self, root: Path, bins: Path, primary_settings: dict[str, str] | None = None
                 ) -> None:
        self.root, self.bins, self.user = root, bins, _system_user()
        self.primary_settings = primary_settings or {}
        self.sockets = root / "sockets"
        self.primary = Node("primary", root / "primary", free_port())
        self.standby = Node("standby", root / "standby", free_port())
        self.running: set[str] = set()

    # --- commands -----------------------------------------------------------------------------

    def run(self, name: str, *args: str, timeout: float = 60) -> str:
        kw: dict[str, Any] = {"user": self.user} if self.user else {}
        done = subprocess.run([str(self.bins / name), *args], capture_output=True, text=True,
                              timeout=timeout, check=False, cwd=self.root, **kw)
        if done.returncode != 0:
            raise RuntimeError(f"{name} {' '.join(args)} failed ({done.returncode}):\n"
                               f"{done.stdout}\n{done.stderr}")
        return done.stdout

    def sql(self, node: Node, statement: str, database: str = "postgres") -> str:
        return self.run("psql", "-h", "127.0.0.1", "-p", str(node.port), "-U", "postgres",
                        "-d", database, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", statement).strip()

    def pg_ctl(self, node: Node, *args: str) -> None:
        self.run("pg_ctl", "-D", str(node.data), "-l", str(node.log), "-w", "-t", "60", *args)

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self.sockets.mkdir(mode=0o777)
        if self.user:
            shutil.chown(self.root, self.user)
            shutil.chown(self.sockets, self.user)
        self.run("initdb", "-D", str(self.primary.data), "-U", "postgres", "--auth=trust",
                 "--encoding=UTF8", "--no-locale", "--no-instructions")
        self._configure(self.primary, {
            "wal_level": "replica", "max_wal_senders": "5", "max_replication_slots": "5",
            "synchronous_commit": "remote_apply", **self.primary_settings,
        })
        # the replication connection of the standby: its own role and its own pg_hba.conf line
        with (self.primary.data / "pg_hba.conf").open("a") as hba:
            hba.write("host replication replicator 127.0.0.1/32 trust\n")
        self.pg_ctl(self.primary, "start")
        self.running.add("primary")
        self.sql(self.primary, "CREATE ROLE replicator WITH REPLICATION LOGIN")
        self.sql(self.primary, f"CREATE DATABASE {DATABASE}")
        self.run("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary.port), "-U",
                 "replicator", "-D", str(self.standby.data), "-R", "-X", "stream",
                 "--checkpoint=fast", "-C", "-S", STANDBY_NAME)
        self._configure(self.standby, {
            "hot_standby": "on",
            "primary_conninfo": (f"'host=127.0.0.1 port={self.primary.port} user=replicator "
                                 f"application_name={STANDBY_NAME}'"),
            "primary_slot_name": f"'{STANDBY_NAME}'",
        })
        self.pg_ctl(self.standby, "start")
        self.running.add("standby")
        # from now on a commit waits until the standby has applied it
        self.sql(self.primary, f"ALTER SYSTEM SET synchronous_standby_names = "
                               f"'FIRST 1 ({STANDBY_NAME})'")
        self.sql(self.primary, "SELECT pg_reload_conf()")
        self.wait_sync()

    def _configure(self, node: Node, settings: dict[str, str]) -> None:
        # postgresql.auto.conf: read last, so these win over what pg_basebackup -R wrote there
        base = {"port": str(node.port), "listen_addresses": "'127.0.0.1'",
                "unix_socket_directories": f"'{self.sockets}'", "max_connections": "60",
                "shared_buffers": "32MB"}
        with (node.data / "postgresql.auto.conf").open("a") as conf:
            conf.write("\n# tests/sync/pgcluster.py\n")
            for key, value in {**base, **settings}.items():
                conf.write(f"{key} = {value}\n")

    def wait_sync(self, timeout: float = 30) -> None:
        """Wait until the primary reports the standby as its synchronous standby."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.sql(self.primary, "SELECT sync_state FROM pg_stat_replication "
                                           f"WHERE application_name = '{STANDBY_NAME}'")
            if state == "sync":
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"standby not synchronous (state {state!r})")
            time.sleep(0.1)

    def kill_primary(self) -> None:
        """Stop the primary as a crash would: no shutdown checkpoint, clients cut off."""
        self.pg_ctl(self.primary, "stop", "-m", "immediate")
        self.running.discard("primary")

    def promote(self) -> None:
        """Make the standby a primary; returns once it accepts writes."""
        self.pg_ctl(self.standby, "promote")
        deadline = time.monotonic() + 30
        while self.sql(self.standby, "SELECT pg_is_in_recovery()") != "f":
            if time.monotonic() > deadline:
                raise RuntimeError("standby still in recovery after promote")
            time.sleep(0.1)

    def stop(self) -> None:
        for node in (self.primary, self.standby):
            if node.name in self.running:
                try:
                    self.pg_ctl(node, "stop", "-m", "immediate")
                except (RuntimeError, subprocess.TimeoutExpired):
                    pass
                self.running.discard(node.name)


@contextmanager
def cluster(bins: Path, primary_settings: dict[str, str] | None = None) -> Iterator[Cluster]:
    """A started primary + synchronous standby in a temporary folder, stopped afterwards;
    ``primary_settings`` are added to the primary's configuration."""
    # a short path: Unix socket paths are limited to ~100 bytes
    root = Path(tempfile.mkdtemp(prefix="ruhu-ha-", dir="/tmp"))
    made = Cluster(root, bins, primary_settings)
    try:
        made.start()
        yield made
    finally:
        made.stop()
        shutil.rmtree(root, ignore_errors=True)
