"""The server's commands of ``ruhu``: serve, migrate, create-user, demo, import-outbox (``ruhu
client``, the tablet app, is added by the launcher ``ruhu.cli`` so that the server never imports
the tablet)."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="入户通 ruhu — 离线入户采集与同步服务", no_args_is_help=True,
                  add_completion=False)


def _database_url(data_dir: Path | None) -> tuple[str, object | None]:
    """DATABASE_URL when set, otherwise an embedded Postgres in the data directory."""
    from server.settings import get_settings

    settings = get_settings()
    if settings.database_url:
        return settings.database_url, None
    from server.db import embedded

    directory = (data_dir or settings.data_dir) / "pgdata"
    typer.echo(f"未设置 DATABASE_URL，启动内置 PostgreSQL（数据目录：{directory}）")
    server, url = embedded.start(directory, cleanup_mode="stop")
    return url, server


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="监听地址")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="端口")] = 8000,
    demo: Annotated[bool, typer.Option("--demo", help="写入演示数据（已写入则不变）")] = False,
    demo_password: Annotated[str | None, typer.Option(help="演示账号的统一密码")] = None,
    data_dir: Annotated[Path | None, typer.Option(envvar="RUHU_DATA_DIR",
                                                  help="内置数据库的数据目录")] = None,
    workers: Annotated[int, typer.Option(min=1, envvar="RUHU_WORKERS",
                                         help="工作进程数（建议为 CPU 核数的两倍）")] = 1,
) -> None:
    """启动服务器（自动迁移数据库；--demo 写入演示乡镇）。"""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # initdb chatter is not news
    # SIGTERM (kill, systemctl stop) must stop the embedded Postgres as Ctrl-C does: uvicorn
    # re-raises the signal once it has shut down, and with the default handler that would end the
    # process before any clean-up ran.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_on_signal)
    url, embedded_server = _database_url(data_dir)
    try:
        _serve(url, host=host, port=port, demo=demo, demo_password=demo_password,
               workers=workers)
    finally:
        if embedded_server is not None:
            from server.db import embedded

            for sig in (signal.SIGTERM, signal.SIGINT):  # let the clean-up finish
                signal.signal(sig, signal.SIG_IGN)
            if embedded.stop(embedded_server):
                typer.echo("内置 PostgreSQL 已停止。")


def _cli_engine(url: str) -> Any:
    """A small engine for a one-off command (transaction pooling as configured)."""
    from server.db.engine import make_engine
    from server.settings import get_settings

    return make_engine(url, 2, transaction_pooling=get_settings().db_transaction_pooling)


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(0)  # a requested stop; ``finally`` blocks and exit handlers run


def _serve(url: str, *, host: str, port: int, demo: bool, demo_password: str | None,
           workers: int) -> None:
    import uvicorn

    from server.app import create_app
    from server.db import migrate
    from server.db.engine import make_engine
    from server.reference import ensure_defaults
    from server.settings import get_settings

    migrate.upgrade(url)
    settings = get_settings()
    engine = make_engine(url, settings.db_pool_size, settings.db_pool_timeout,
                         transaction_pooling=settings.db_transaction_pooling)
    ensure_defaults(engine)
    if demo:
        _seed_demo(engine, demo_password)
    typer.echo(f"入户通服务已启动：http://{host}:{port}  （接口文档 /docs，管理台 /console）")
    if workers == 1:
        try:
            uvicorn.run(create_app(engine=engine), host=host, port=port, log_level="info")
        finally:
            engine.dispose()
        return
    # Several processes: a push is half Python, half Postgres, so more processes than cores keep
    # every core busy while devices sync at once. Each worker builds its own app and engine from
    # the environment (the embedded database keeps running in this supervising process). Workers
    # exit when this process dies, even by kill -9 (server.runtime.exit_with_parent).
    engine.dispose()
    os.environ["DATABASE_URL"] = url
    uvicorn.run("server.app:create_app", factory=True, host=host, port=port, log_level="info",
                workers=workers)


def _seed_demo(engine: object, demo_password: str | None) -> None:
    from server.demo import seed_demo

    created = seed_demo(engine, password=demo_password)  # type: ignore[arg-type]
    if created is None:
        typer.echo("演示数据已存在，未作改动。")
        return
    typer.echo("已写入演示数据。演示账号（密码只显示这一次）：")
    for username, (role, password) in created.items():
        typer.echo(f"  {username:<16} {role:<16} {password}")


@app.command()
def migrate(
    direction: Annotated[str, typer.Argument(help="upgrade 或 downgrade")] = "upgrade",
    revision: Annotated[str | None, typer.Argument(help="目标版本")] = None,
    data_dir: Annotated[Path | None, typer.Option(envvar="RUHU_DATA_DIR")] = None,
) -> None:
    """升级或回退数据库结构（Alembic）。"""
    from server.db import migrate as m

    url, _embedded = _database_url(data_dir)
    if direction == "upgrade":
        m.upgrade(url, revision or "head")
    elif direction == "downgrade":
        m.downgrade(url, revision or "-1")
    else:
        raise typer.BadParameter("只能是 upgrade 或 downgrade")
    typer.echo("数据库结构已更新。")


def _fail(text: str) -> None:
    typer.echo(text, err=True)
    raise typer.Exit(code=2)


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("密码", hide_input=True, confirmation_prompt="再次输入密码")
    return password


def create_user_account(engine: object, *, username: str, role: str, name: str,
                        scopes: list[str], password: str, phone: str | None = None,
                        unit: str | None = None) -> None:
    """``server.users.create_user`` in its own transaction; ValueError (Chinese message) on bad
    input."""
    from sqlmodel import Session

    from server.users import create_user as create
    from sync_protocol.errors import RuhuError

    try:
        with Session(engine) as session:  # type: ignore[arg-type]
            create(session, None, username=username, name=name, role=role, scopes=scopes,
                   password=password, phone=phone, unit=unit, via="cli")
            session.commit()
    except RuhuError as exc:
        raise ValueError(exc.message) from exc


@app.command("create-user")
def create_user(
    username: Annotated[str, typer.Argument(help="登录用户名")],
    role: Annotated[str, typer.Option(help="village_cadre / first_secretary / township_clerk / "
                                           "county_admin")],
    name: Annotated[str, typer.Option(help="姓名")],
    scope: Annotated[list[str], typer.Option(help="管辖范围区划代码前缀（可重复）")],
    phone: Annotated[str | None, typer.Option(help="联系电话")] = None,
    unit: Annotated[str | None, typer.Option(help="工作单位")] = None,
    password_stdin: Annotated[bool, typer.Option("--password-stdin",
                                                 help="从标准输入读取密码（一行）")] = False,
    data_dir: Annotated[Path | None, typer.Option(envvar="RUHU_DATA_DIR")] = None,
) -> None:
    """创建用户（密码交互输入，或用 --password-stdin 从标准输入读取，绝不作为参数）。"""
    password = _read_password(password_stdin)
    from server.users import check_new_user
    from sync_protocol.errors import RuhuError

    try:  # bad input is refused before a database is started
        check_new_user(username=username, name=name, role=role, scopes=scope, password=password,
                       phone=phone)
    except RuhuError as exc:
        _fail(exc.message)
    from server.db import migrate as m

    url, _embedded = _database_url(data_dir)
    m.upgrade(url)
    engine = _cli_engine(url)
    try:
        create_user_account(engine, username=username, role=role, name=name, scopes=scope,
                            password=password, phone=phone, unit=unit)
    except ValueError as exc:
        _fail(str(exc))
    finally:
        engine.dispose()
    typer.echo(f"已创建用户 {username}（{role}，管辖范围 {'、'.join(scope)}）。")


@app.command()
def demo(
    demo_password: Annotated[str | None, typer.Option(help="演示账号的统一密码")] = None,
    data_dir: Annotated[Path | None, typer.Option(envvar="RUHU_DATA_DIR")] = None,
) -> None:
    """只写入演示数据（驿城区两个乡镇；已写入则不变），不启动服务。"""
    from server.db import migrate as m
    from server.reference import ensure_defaults

    url, _embedded = _database_url(data_dir)
    m.upgrade(url)
    engine = _cli_engine(url)
    try:
        ensure_defaults(engine)
        _seed_demo(engine, demo_password)
    finally:
        engine.dispose()


STATUS_WORDS = {"applied": "已写入", "merged": "已合并", "conflict": "冲突（待乡镇审核）",
                "rejected": "被退回", "duplicate": "重复（此前已上传）"}


@app.command("import-outbox")
def import_outbox(
    file: Annotated[Path, typer.Argument(help="平板退出登录时导出的未上传数据文件（.json）",
                                         exists=True, dir_okay=False, readable=True)],
    data_dir: Annotated[Path | None, typer.Option(envvar="RUHU_DATA_DIR",
                                                  help="内置数据库的数据目录")] = None,
) -> None:
    """导入平板导出的未上传修改（与平板自行同步的效果相同；重复导入不会重复写入）。"""
    from sqlmodel import Session

    from server.db import migrate as m
    from server.settings import get_settings
    from server.sync.outbox_import import import_outbox as run_import
    from sync_protocol.errors import RuhuError

    url, _embedded = _database_url(data_dir)
    m.upgrade(url)
    engine = _cli_engine(url)
    try:
        with Session(engine) as session:
            try:
                report = run_import(session, None, file.read_bytes(),
                                    attachment_limit=get_settings().attachment_max_bytes,
                                    via="cli")
            except RuhuError as exc:
                session.rollback()
                _fail(f"未导入：{exc.message}")
                return
            session.commit()
    finally:
        engine.dispose()
    typer.echo(f"已导入 {report.user_name}（{report.username}）在设备 {report.device_id} 上的 "
               f"{len(report.results)} 条修改、{report.attachments_new} 个新附件：")
    typer.echo("，".join(f"{STATUS_WORDS[k]} {v}" for k, v in report.counts.items()))
    for r in report.results:
        error = (r.get("error") or {}).get("message") or ""
        typer.echo(f"  {r.get('change_id')}  {STATUS_WORDS.get(str(r.get('status')), '')}"
                   + (f"：{error}" if error else ""))


@app.command("prune-sync")
def prune_sync(
    keep_days: Annotated[float, typer.Option(
        min=0, help="保留最近多少天的同步回执和迁出记录")] = 30,
    data_dir: Annotated[Path | None, typer.Option(envvar="RUHU_DATA_DIR",
                                                  help="内置数据库的数据目录")] = None,
) -> None:
    """清理已不再需要的同步回执和农户迁出记录（可每晚定时运行；不影响任何数据）。"""
    from server.db import migrate as m
    from server.sync.retention import prune

    url, _embedded = _database_url(data_dir)
    m.upgrade(url)
    engine = _cli_engine(url)
    try:
        done = prune(engine, keep_days)
    finally:
        engine.dispose()
    typer.echo(f"已清理同步回执 {done.receipts} 条、农户迁出记录 {done.scope_exits} 条"
               f"（保留最近 {keep_days:g} 天）。")
