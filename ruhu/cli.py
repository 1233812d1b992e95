"""The ``ruhu`` command: the server's commands (``server.cli``) plus ``client``, the tablet app.

The server package never imports the tablet's and the tablet's never imports the server's; this
launcher is where the two meet, and it imports the tablet only when ``ruhu client`` runs.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from server import cli as server_cli

app = typer.Typer(help=server_cli.app.info.help, no_args_is_help=True, add_completion=False)
app.registered_commands.extend(server_cli.app.registered_commands)


@app.command()
def client(
    server: Annotated[str, typer.Option(help="服务器地址")] = "http://127.0.0.1:8000",
) -> None:
    """启动平板客户端（需要 pip install -e ".[client]"）。"""
    try:
        from kivy_client.ui.app import run
    except ImportError as exc:
        typer.echo(f"无法启动客户端：{exc}。请先安装客户端依赖：pip install -e \".[client]\"",
                   err=True)
        raise typer.Exit(code=2) from None
    run(server_url=server)


def main() -> None:  # pragma: no cover
    os.environ.setdefault("PYTHONUTF8", "1")
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    main()
