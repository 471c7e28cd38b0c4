"""The `nansen` command: one root over the command modules in `pipeline/commands/`.

Each command module is imported only when one of its commands runs, so `nansen --help` loads none of
SQLAlchemy, Scrapy, Starlette or mjml, and `nansen entries list` does not load the mail stack. The
root's help lists each command with the summary in `COMMANDS` (a test checks each against the
command's own docstring). A service's `DomainError` becomes its lines on stderr and its exit code
(`output.domain_errors`), whatever command raised it.
"""

from __future__ import annotations

import importlib
from typing import Any, NamedTuple

import typer
from typer.core import TyperCommand, TyperGroup

from pipeline.commands.output import domain_errors


class Command(NamedTuple):
    module: str
    summary: str


_PACKAGE = "pipeline.commands"
COMMANDS: dict[str, Command] = {
    "init": Command("entries", "Create the database, or upgrade it to the current schema."),
    "import": Command("entries", "Upsert entries by slug from files; all-or-nothing, errors name file and line."),
    "export": Command("entries", "Export every entry as YAML, JSON, CSV or HSDS (Open Referral) tables."),
    "stats": Command(
        "entries", "Counts by kind, status, program state, country and topic, and how fresh the checks are."
    ),
    "entries": Command("entries", "Read and curate entries."),
    "review": Command("review", "Review what the crawlers propose; nothing they see is applied without you."),
    "crawl": Command(
        "crawl", "Crawl the directory's sites, feeds and watched pages; findings become proposals to review."
    ),
    "publish": Command(
        "publishing", "Build the feeds, OPML and the bilingual static site; only changed files are written."
    ),
    "serve": Command(
        "publishing", "Serve the built site on 127.0.0.1, with the subscription endpoints when NANSEN_SECRET is set."
    ),
    "subscribers": Command("mail", "Manage newsletter subscribers (their data never leaves this database)."),
    "newsletter": Command("mail", "Build, preview, approve, send and archive newsletter editions."),
    "bounces": Command(
        "bounces", "Read bounces that arrived after sending; permanent failures become bounced, soft ones are counted."
    ),
    "telegram": Command(
        "telegram", "Post each new update to the Telegram channels, exactly once; show what was posted."
    ),
    "config": Command("configuration", "The installation's configuration."),
    "schedule": Command(
        "operations", "Run the scheduler in the foreground (crawls, publishing, newsletter) until SIGTERM/SIGINT."
    ),
    "run": Command(
        "operations", "One full cycle now: crawl → publish → Telegram → newsletter if due (what the scheduler runs)."
    ),
    "runs": Command("operations", "Recent runs of the scheduled jobs: start, end, outcome, counts."),
}


class NansenGroup(TyperGroup):
    """The root: loads a command's module when it is asked for, and maps domain errors for all."""

    describing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(name for name in COMMANDS if name not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        command = COMMANDS[cmd_name]
        if self.describing:  # the root's help needs only names and summaries
            return TyperCommand(name=cmd_name, help=command.summary)
        module = importlib.import_module(f"{_PACKAGE}.{command.module}")
        group = typer.main.get_group(module.app)
        self.commands[cmd_name] = group.commands[cmd_name]
        return self.commands[cmd_name]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self.describing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self.describing = False

    def invoke(self, ctx: Any) -> Any:
        with domain_errors():
            return super().invoke(ctx)


app = typer.Typer(
    name="nansen",
    cls=NansenGroup,
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
        help="SQLAlchemy database URL (default: sqlite:///nansen.db).",
    ),
    actor: str | None = typer.Option(
        None,
        "--actor",
        envvar="NANSEN_ACTOR",
        help="Who the history names for changes made (default: the login name).",
    ),
) -> None:
    from pipeline import config  # noqa: PLC0415 - pydantic loads when a command runs, not for --help

    ctx.obj = config.load(database, actor)


def main() -> None:
    app()
