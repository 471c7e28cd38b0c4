"""The `nansen` command: mounts each package's commands on one root.

Heavy libraries (SQLAlchemy, Scrapy, mjml) are imported inside the commands that use them, so
`nansen --help` stays fast and never loads the crawler stack.
"""

from __future__ import annotations

import typer

from crawlers import cli as crawlers_cli
from directory import cli as directory_cli
from newsletter import cli as newsletter_cli
from pipeline import config, ops_cli

app = typer.Typer(
    name="nansen",
    help="Nansen: a curated directory of organizations serving the Russian and Belarusian political diaspora.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    database: str | None = typer.Option(
        None,
        "--database",
        envvar="NANSEN_DATABASE_URL",
        show_envvar=True,
        help=f"SQLAlchemy database URL [default: {config.DEFAULT_DATABASE_URL}].",
    ),
    actor: str | None = typer.Option(
        None,
        "--actor",
        envvar="NANSEN_ACTOR",
        help="Who the history names for changes made [default: login name].",
    ),
) -> None:
    ctx.obj = config.load(database, actor)


directory_cli.register(app)
newsletter_cli.register(app)
crawlers_cli.register(app)
ops_cli.register(app)


def main() -> None:
    app()
