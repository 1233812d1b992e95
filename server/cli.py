"""The ``ruhu`` command: serve, migrate, create-user, demo, client."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

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
) -> None:
    """启动服务器（自动迁移数据库；--demo 写入演示乡镇）。"""
    import uvicorn

    from server.app import create_app
    from server.db import migrate
    from server.db.engine import make_engine
    from server.reference import ensure_defaults
    from server.settings import get_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    url, _embedded = _database_url(data_dir)
    migrate.upgrade(url)
    engine = make_engine(url, get_settings().db_pool_size)
    ensure_defaults(engine)
    if demo:
        _seed_demo(engine, demo_password)
    typer.echo(f"入户通服务已启动：http://{host}:{port}  （接口文档 /docs，管理台 /console）")
    uvicorn.run(create_app(engine=engine), host=host, port=port, log_level="info")


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


def main() -> None:  # pragma: no cover
    os.environ.setdefault("PYTHONUTF8", "1")
    sys.exit(app())
