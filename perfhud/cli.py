"""The ``perfhud`` command line.

Subcommands that need heavy imports (Flask, Celery, torch) live in the package that owns them
and are loaded only when called, so ``perfhud --help`` is instant and a broken optional part
cannot stop the others. Every failure the user can cause prints one line and exits non-zero:
2 for a usage error (click's convention), 78 (EX_CONFIG) for a configuration error.
"""

from __future__ import annotations

import importlib
import secrets
import sys
from typing import Any

import click

from perfhud.settings import Settings, SettingsError, hash_token, load_settings

EXIT_USAGE = 2
EXIT_CONFIG = 78

# name -> (module, attribute, one-line help shown by `perfhud --help`)
_LAZY_COMMANDS: dict[str, tuple[str, str, str]] = {
    "up": ("perfhud.up", "up", "Set up the embedded store and run web, worker and demo (Ctrl-C stops all)."),
    "demo": ("perfhud.up", "demo", "Make a demo repository with a planted regression and backfill it."),
    "web": ("dashboard.commands", "web", "Serve the dashboard (development server)."),
    "worker": ("worker.commands", "worker", "Run a benchmark worker pinned to a host's cores."),
    "repo": ("worker.commands", "repo", "Register and list tracked repositories."),
    "backfill": ("worker.commands", "backfill", "Queue jobs for existing commits, oldest first."),
    "sweep": ("worker.commands", "sweep", "Re-publish queued jobs whose broker message is stale."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *_LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in _LAZY_COMMANDS:
            return command
        module_name, attribute, _ = _LAZY_COMMANDS[cmd_name]
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise click.ClickException(f"'perfhud {cmd_name}' is not available: {exc}") from None
        return getattr(module, attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing uses the help table above: `perfhud --help` must not import Flask or torch.
        rows = [(name, _LAZY_COMMANDS[name][2]) for name in _LAZY_COMMANDS]
        for name in super().list_commands(ctx):
            command = super().get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=formatter.width)))
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))


def settings_or_exit() -> Settings:
    """Load settings, or print the one-line reason and exit with EX_CONFIG."""
    try:
        return load_settings()
    except SettingsError as exc:
        click.echo(f"perfhud: configuration error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="perfhud")
def cli() -> None:
    """perfhud: per-commit CPU benchmarks for PyTorch, with regression alerts you can believe.

    Configuration comes from PERFHUD_* environment variables (see README.md).
    """


@cli.group()
def db() -> None:
    """Manage the SQL store."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target migration.")
def db_upgrade(revision: str) -> None:
    """Create or migrate the store named by PERFHUD_DATABASE_URL."""
    from db.migrate import upgrade

    settings = settings_or_exit()
    upgrade(settings.database_url, revision)
    click.echo(f"store at revision {revision}: {_redacted(settings.database_url)}")


@db.command("check")
def db_check() -> None:
    """Fail if the models and the migrations disagree."""
    from alembic.util.exc import CommandError

    from db.migrate import check

    settings = settings_or_exit()
    try:
        check(settings.database_url)
    except CommandError as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from None
    click.echo("models and migrations agree")


@cli.group()
def token() -> None:
    """API tokens (stored hashed)."""


@token.command("new")
def token_new() -> None:
    """Print a new API token and the hash to put in PERFHUD_API_TOKENS."""
    value = secrets.token_urlsafe(32)
    click.echo(f"token: {value}")
    click.echo(f"hash:  {hash_token(value)}")


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main(argv: list[str] | None = None) -> Any:
    """Entry point: usage errors become one line and exit status 2."""
    try:
        return cli.main(args=argv, prog_name="perfhud", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("perfhud: aborted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        where = f"perfhud {exc.ctx.command_path.split(' ', 1)[1]}" if exc.ctx and " " in exc.ctx.command_path else "perfhud"
        click.echo(f"{where}: {exc.format_message()} (try '{where} --help')", err=True)
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:
        click.echo(f"perfhud: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except SettingsError as exc:
        click.echo(f"perfhud: configuration error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)


if __name__ == "__main__":
    main()
