"""The ``hotline`` command: every process and admin task of the platform is a subcommand."""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from hotline.config import ConfigError, Settings, load_settings, parse_assignment

# (module, attribute) of each subcommand; imported lazily so that ``hotline --help`` and one
# subcommand never pay for the others' imports (Flask, vosk, ...).
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "db": ("hotline.commands.db", "db"),
    "asterisk": ("hotline.commands.asterisk", "asterisk"),
    "call": ("hotline.commands.call", "call"),
    "up": ("hotline.commands.up", "up"),
    "demo-data": ("hotline.commands.demo_data", "demo_data"),
    "scheduler": ("hotline.commands.scheduler", "scheduler"),
    "agi": ("hotline.commands.agi", "agi"),
    "prompts": ("hotline.commands.prompts", "prompts"),
    "web": ("hotline.commands.web", "web"),
    "calls": ("hotline.commands.supervise", "calls"),
    "api-client": ("hotline.commands.api_client", "api_client"),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(SUBCOMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in SUBCOMMANDS:
            module_name, attribute = SUBCOMMANDS[cmd_name]
            return getattr(importlib.import_module(module_name), attribute)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML config file (also HOTLINE_CONFIG).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the SQLite database, secrets, recordings and logs.")
@click.option("--database-url", help="SQLAlchemy URL; default a SQLite file in the data dir.")
@click.option("--set", "assignments", multiple=True, metavar="KEY=VALUE",
              help="Override any setting, e.g. --set agi_port=4600.")
@click.pass_context
def main(ctx: click.Context, config_file: Path | None, data_dir: Path | None,
         database_url: str | None, assignments: tuple[str, ...]) -> None:
    """96345 community-service hotline: IVR, agent console, scheduler and PBX sandbox."""
    try:
        overrides: dict[str, object] = dict(parse_assignment(a) for a in assignments)
        overrides.update(data_dir=data_dir, database_url=database_url)
        ctx.obj = load_settings(config_file=config_file, overrides=overrides)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def settings_of(ctx: click.Context) -> Settings:
    """The settings the top-level command built."""
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    return settings


if __name__ == "__main__":  # pragma: no cover
    main()
