"""The `nansen` command: one root over the command modules in `pipeline/commands/`.

Each command module is imported only when one of its commands runs, so `nansen --help` loads none of
SQLAlchemy, Scrapy, Starlette or mjml, and `nansen entries list` does not load the mail stack. The
root's help lists each command with the summary in `COMMANDS` (a test checks each against the
command's own docstring).

Every way a command can fail ends in `NansenGroup.main`, the one place that turns a failure into
lines on stderr and an exit code (`output.failure_lines`): a service's `DomainError` its own lines and
code, a usage mistake Click finds one line and 2, a file the system refuses one line and 1, and
anything else (a bug) one line and 1 that says so. `--debug` lets the traceback through instead.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any, NamedTuple

import typer
from typer._click.exceptions import NoArgsIsHelpError  # Typer's own Click raises it
from typer.core import TyperCommand, TyperGroup

from pipeline.commands.output import failure_lines, typer_app, visible


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
    debug = False  # set by the root's --debug: failures keep their traceback

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *(name for name in COMMANDS if name not in self.commands)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        command = COMMANDS[cmd_name]
        if self.describing:  # the root's help needs only names and summaries
            return TyperCommand(name=cmd_name, help=command.summary, short_help=command.summary)
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

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command; every failure becomes its lines on stderr and exit 1 or 2 (`failure_lines`)."""
        try:
            code = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except NoArgsIsHelpError as exc:  # a bare group: its help, as Click shows it
            exc.show()
            code = exc.exit_code
        except Exception as exc:
            if self.debug:
                raise
            lines, code = failure_lines(exc)
            for line in lines:
                typer.echo(visible(line), err=True)  # errors quote the values they refuse
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


app = typer_app(
    name="nansen",
    cls=NansenGroup,
    help="Nansen: a curated directory of organizations serving the Russian and Belarusian political diaspora.",
    no_args_is_help=True,
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
    debug: bool = typer.Option(
        False, "--debug", envvar="NANSEN_DEBUG", help="Show the traceback of a failure instead of its one line."
    ),
) -> None:
    from pipeline import config  # noqa: PLC0415 - pydantic loads when a command runs, not for --help

    ctx.command.debug = debug  # type: ignore[attr-defined]  # the root is a NansenGroup
    ctx.obj = config.load(database, actor)
    if ctx.obj.problems and ctx.invoked_subcommand != "config":  # `config check` shows them all, with the rest
        raise config.ConfigError("\n".join(ctx.obj.problems))


def main() -> None:
    app()
