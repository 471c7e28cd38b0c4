"""`nansen config check`: the effective configuration, every secret masked, and every problem."""

from __future__ import annotations

import typer

from pipeline import config, config_check
from pipeline.commands.output import emit_table, settings, typer_app

config_app = typer_app(help="The installation's configuration.", no_args_is_help=True)


@config_app.command("check")
def check_command(ctx: typer.Context) -> None:
    """Print the effective configuration (every secret masked) and every problem found."""
    current = settings(ctx)
    rows = [{"setting": name, "value": value, "from": origin} for name, value, origin in config.describe(current)]
    emit_table(rows, ["setting", "value", "from"], title=f"configuration ({current.config_path or 'no nansen.toml'})")
    problems = config_check.check(current)
    for problem in problems:
        typer.echo(f"problem: {problem}", err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo("no problems found")


app = typer_app()
app.add_typer(config_app, name="config")
