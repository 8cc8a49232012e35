"""Subcommands of the ``hotline`` CLI, one module per area."""
