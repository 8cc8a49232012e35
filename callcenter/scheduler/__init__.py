"""The scheduler process: APScheduler jobs run by exactly one active scheduler (a DB lease)."""
