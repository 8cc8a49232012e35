"""Shared pytest plugins: databases (SQLite and PostgreSQL) and the Asterisk sandbox."""

pytest_plugins = ["tests.plugins.db", "tests.plugins.pbx", "tests.plugins.speech"]
