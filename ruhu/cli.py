"""The ``ruhu`` command: the server's commands (``server.cli``) plus ``client``, the tablet app.

The server package never imports the tablet's and the tablet's never imports the server's; this
launcher is where the two meet, and it imports the tablet only when ``ruhu client`` runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer import rich_utils
from typer.core import TyperCommand

from server import cli as server_cli

# the help is Chinese like the rest of the app's text (typer's panel titles and click's usage)
rich_utils.OPTIONS_PANEL_TITLE = "选项"
rich_utils.ARGUMENTS_PANEL_TITLE = "参数"
rich_utils.COMMANDS_PANEL_TITLE = "命令"
rich_utils.DEFAULT_STRING = "[默认：{}]"
rich_utils.ENVVAR_STRING = "[环境变量：{}]"
rich_utils.REQUIRED_LONG_STRING = "[必填]"


class ChineseHelpCommand(TyperCommand):
    """A command whose ``--help`` option and usage line read in Chinese."""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            option.help = "显示本帮助并退出"
        return option

    def format_usage(self, ctx: Any, formatter: Any) -> None:
        formatter.write_usage(ctx.command_path, " ".join(self.collect_usage_pieces(ctx)),
                              prefix="用法：")

app = typer.Typer(help=server_cli.app.info.help, no_args_is_help=True, add_completion=False)
app.registered_commands.extend(server_cli.app.registered_commands)
for _command in app.registered_commands:  # every command's --help reads in Chinese
    if _command.cls in (None, TyperCommand):
        _command.cls = ChineseHelpCommand


@app.command(cls=ChineseHelpCommand)
def client(
    server: Annotated[str, typer.Option(help="服务器地址")] = "http://127.0.0.1:8000",
    data_dir: Annotated[Path | None, typer.Option(
        "--data-dir", envvar="RUHU_CLIENT_DIR", show_envvar=True,
        help="本机数据目录（平板数据库 ruhu.sqlite3 所在文件夹；模拟多台平板时每台用一个目录）。"
             "不填时使用系统的用户数据目录")] = None,
) -> None:
    """启动平板客户端（需要先安装客户端依赖：pip install -e ".\\[client]"）。"""
    try:
        from kivy_client.ui.app import run
    except ImportError as exc:
        typer.echo(f"无法启动客户端：{exc}。请先安装客户端依赖：pip install -e \".[client]\"",
                   err=True)
        raise typer.Exit(code=2) from None
    run(server_url=server, directory=data_dir)


def main() -> None:  # pragma: no cover
    os.environ.setdefault("PYTHONUTF8", "1")
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    main()
