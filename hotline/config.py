"""The one place that reads configuration.

Layers, lowest first: built-in defaults < a TOML config file < ``HOTLINE_*`` environment
variables < command-line flags.  The result is a frozen :class:`Settings` of plain values that
entry points pass down; no other module reads the environment or a config file.

A TOML file uses sections whose names prefix the keys, so ``[agi] port = 4573`` sets
``agi_port``; top-level keys set the field of the same name.  ``HOTLINE_AGI_PORT=4600`` sets the
same field from the environment.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ENV_PREFIX = "HOTLINE_"


class ConfigError(ValueError):
    """A configuration value that cannot be used, with the key and the reason."""


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hotline96345"


@dataclass(frozen=True)
class Settings:
    """Every setting the hotline processes use, as plain values."""

    data_dir: Path = Path("var")
    database_url: str = ""  # empty: SQLite file in data_dir
    language: str = "zh"
    timezone: str = "Asia/Shanghai"
    phone_region: str = "CN"

    # FastAGI server
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    agi_max_calls: int = 1000  # calls over this are closed at once (the dialplan falls back)
    agi_command_timeout_seconds: int = 120  # longer than the longest prompt or recording
    agi_log_level: str = "INFO"

    # IVR
    ivr_digit_timeout_ms: int = 6000  # waiting for a key after a menu
    ivr_max_retries: int = 2  # retries of one menu before an agent
    ivr_describe: bool = True  # offer to record a short description after the ticket
    prompts_dir: Path = Path("")  # where Asterisk plays from (<dir>/<lang>/hotline/); empty: its sounds dir
    prompts_cache_dir: Path = Path("")  # rendered prompts by content hash; empty: data_dir/prompt-cache
    prompts_recorded_dir: Path = Path("")  # human recordings <lang>/<key>.wav override synthetic ones
    speech_enabled: bool = True  # speech is used only when a vosk model is also available
    speech_listen_seconds: int = 6
    speech_min_confidence_percent: int = 50

    # Web console
    web_host: str = "127.0.0.1"
    web_port: int = 8345
    web_secret_key: str = ""  # empty: generated once into data_dir
    web_threads: int = 16  # waitress worker threads
    web_workers: int = 1  # `hotline web` processes sharing the port, each with web_threads threads
    web_cookie_secure: bool = False  # True when served over HTTPS (behind a proxy)
    web_session_hours: int = 12  # a login lasts this long at most
    web_ami: bool = True  # connect the console to Asterisk's AMI (queues, pauses, screen pops)
    web_offer_sweep_seconds: int = 5  # how often `hotline web` expires offers and re-offers (0: never)

    # Asterisk: "sandbox" (a local root provisioned from Debian packages) or "system"
    asterisk_mode: str = "sandbox"
    asterisk_root: Path = field(default_factory=lambda: _default_cache_dir() / "asterisk-root")
    asterisk_suite: str = "sid"
    asterisk_binary: str = "asterisk"  # for mode "system"
    asterisk_config_dir: Path = Path("")  # for mode "system": where asterisk.conf lives
    asterisk_data_dir: Path = Path("")  # for mode "system": sounds/MOH folder; empty: /usr/share/asterisk
    asterisk_instance: str = "default"  # several sandboxes can run from one root (tests use their own)
    asterisk_boot_timeout_seconds: int = 60
    agent_seats: int = 4  # agent phone endpoints agent01..agentNN in the generated site file
    asterisk_conf_dir: Path = Path("")  # empty: the asterisk_conf/ folder of this checkout
    carrier_host: str = ""  # the carrier trunk's address; empty: the simulated carrier (sim_host)
    carrier_port: int = 5060
    queue_wait_seconds: int = 300  # then the caller is offered to leave a message
    sip_host: str = "127.0.0.1"
    sip_port: int = 5060
    sim_host: str = "127.0.0.2"
    sim_port: int = 5060
    sim_phone_host: str = "127.0.0.3"  # simulated agent phones register from here (sandbox only)
    sim_bench_host: str = "127.0.0.4"  # the benchmark's trunk (sandbox only)
    sim_ami_user: str = "hotline-sim"  # the simulator's AMI user (sandbox only)
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_user: str = "hotline"
    ami_secret: str = ""  # empty: generated once into data_dir
    ami_permit: str = "127.0.0.1/255.255.255.255"  # where AMI clients may connect from
    audiosocket_host: str = "127.0.0.1"
    audiosocket_port: int = 9093
    recordings_dir: Path = Path("")  # empty: data_dir/recordings

    # Ticket work
    claim_lease_seconds: int = 300
    offer_timeout_seconds: int = 120

    # Scheduler
    scheduler_lease_seconds: int = 15
    followup_delay_minutes: int = 120
    followup_attempts: int = 3
    followup_retry_minutes: int = 30
    calling_hours_start: str = "09:00"  # Asia/Shanghai (the timezone setting)
    calling_hours_end: str = "20:00"
    # Scheduler: follow-up survey calls and callbacks (placed over AMI as the ami_user)
    scheduler_ami: bool = True  # off: no calls are placed (follow-ups and callbacks wait)
    outbound_caller_id: str = "96345"  # the number residents see
    followup_ring_seconds: int = 40  # then the attempt counts as unanswered
    followup_max_call_seconds: int = 300  # an answered survey longer than this is given up
    followup_max_concurrent: int = 10  # follow-up calls in flight at once
    callback_attempts: int = 3
    callback_retry_minutes: int = 10
    callback_ring_seconds: int = 40
    callback_abandoned: bool = False  # call back callers who hung up in the queue (with a ticket)
    callback_abandoned_hours: int = 2  # ... if they hung up this recently
    # Daily jobs
    statistics_days_back: int = 7  # finished days whose snapshot is filled in when missing
    prompt_cache_retention_days: int = 90  # rendered prompt-cache files unused this long are deleted
    recordings_retention_days: int = 0  # recordings older than this are deleted; 0 keeps them

    # Speech
    vosk_model_path: str = ""  # empty: the model of the installed vosk-model-* package, if any
    speech_language: str = "zh"

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'hotline.db').resolve()}"

    def resolved_recordings_dir(self) -> Path:
        """Where MixMonitor recordings are written and served from."""
        return self.recordings_dir if path_is_set(self.recordings_dir) else self.data_dir / "recordings"


def path_is_set(path: Path) -> bool:
    """Whether a Path setting was given (``Path("")`` is the "not set" default and reads as ".")."""
    return str(path) not in ("", ".")


_FIELDS = {f.name: f for f in fields(Settings)}


def _coerce(name: str, raw: Any) -> Any:
    kind = _FIELDS[name].type
    try:
        if kind == "int":
            if isinstance(raw, bool):
                raise ValueError("a number is needed")
            return int(raw)
        if kind == "Path":
            return Path(str(raw))
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError("true or false is needed")
        return str(raw)
    except ValueError as exc:
        raise ConfigError(f"setting {name!r}: cannot use {raw!r}: {exc}") from None


def _flatten_toml(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten_toml(value, f"{name}_"))
        else:
            flat[name] = value
    return flat


def _check_known(values: Mapping[str, Any], origin: str) -> None:
    unknown = sorted(set(values) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"{origin}: unknown setting(s) {', '.join(unknown)}")


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a TOML config file into flat setting names."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from None
    flat = _flatten_toml(data)
    _check_known(flat, f"config file {path}")
    return flat


def read_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The ``HOTLINE_*`` variables as flat setting names (``HOTLINE_CONFIG`` excluded)."""
    values = {
        key[len(ENV_PREFIX) :].lower(): value
        for key, value in environ.items()
        if key.startswith(ENV_PREFIX) and key != f"{ENV_PREFIX}CONFIG"
    }
    _check_known(values, "environment")
    return values


def load_settings(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings from defaults, file, environment and flag overrides, in that order."""
    environ = os.environ if environ is None else environ
    if config_file is None and environ.get(f"{ENV_PREFIX}CONFIG"):
        config_file = Path(environ[f"{ENV_PREFIX}CONFIG"])
    layered: dict[str, Any] = {}
    if config_file is not None:
        layered.update(read_config_file(config_file))
    layered.update(read_environment(environ))
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    _check_known(overrides, "command line")
    layered.update(overrides)
    settings = dataclasses.replace(Settings(), **{k: _coerce(k, v) for k, v in layered.items()})
    _validate(settings)
    return settings


def _validate(settings: Settings) -> None:
    ports = ("agi_port", "web_port", "sip_port", "sim_port", "ami_port", "audiosocket_port", "carrier_port")
    for name in ports:
        port = getattr(settings, name)
        if not 0 < port < 65536:
            raise ConfigError(f"setting {name!r}: {port} is not a TCP/UDP port")
    if settings.language not in {"zh", "en"}:
        raise ConfigError(f"setting 'language': {settings.language!r} is not one of zh, en")
    if settings.asterisk_mode not in {"sandbox", "system"}:
        raise ConfigError(f"setting 'asterisk_mode': {settings.asterisk_mode!r} is not sandbox or system")
    for name in ("calling_hours_start", "calling_hours_end"):
        parse_clock(getattr(settings, name), name)
    if parse_clock(settings.calling_hours_start, "") >= parse_clock(settings.calling_hours_end, ""):
        raise ConfigError("calling hours: the start must be before the end")
    if settings.claim_lease_seconds < 10:
        raise ConfigError("setting 'claim_lease_seconds': must be at least 10 seconds")
    _validate_outbound(settings)


def _validate_outbound(settings: Settings) -> None:
    """The follow-up, callback and retention settings (issue 7)."""
    bounds = {"followup_attempts": (1, 10), "callback_attempts": (1, 10), "followup_ring_seconds": (5, 120),
              "callback_ring_seconds": (5, 120), "followup_max_call_seconds": (30, 3600),
              "followup_max_concurrent": (1, 500), "followup_retry_minutes": (1, 24 * 60),
              "callback_retry_minutes": (1, 24 * 60), "followup_delay_minutes": (0, 30 * 24 * 60),
              "callback_abandoned_hours": (1, 72), "statistics_days_back": (1, 366),
              "prompt_cache_retention_days": (0, 3650), "recordings_retention_days": (0, 36500)}
    for name, (low, high) in bounds.items():
        value = getattr(settings, name)
        if not low <= value <= high:
            raise ConfigError(f"setting {name!r}: {value} is not between {low} and {high}")
    caller_id = settings.outbound_caller_id
    if not (caller_id.isascii() and caller_id.isdigit() and 3 <= len(caller_id) <= 20):
        raise ConfigError("setting 'outbound_caller_id': 3 to 20 digits")


def parse_clock(text: str, name: str) -> dt.time:
    """A local time of day written ``HH:MM``."""
    try:
        return dt.datetime.strptime(text, "%H:%M").time()
    except ValueError:
        raise ConfigError(f"setting {name!r}: {text!r} is not a time of day like 09:00") from None


def parse_assignment(text: str) -> tuple[str, str]:
    """Split a ``key=value`` command-line assignment."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set needs key=value, got {text!r}")
    return key.strip().replace("-", "_").replace(".", "_"), value


def secret_from_file(data_dir: Path, name: str) -> str:
    """A random secret kept in ``data_dir/secrets/NAME``, made on first use (mode 0600)."""
    import secrets

    folder = data_dir / "secrets"
    path = folder / name
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    folder.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(24)
    # Written whole under a name of its own, then linked into place: processes started together
    # (two schedulers, the services of `hotline up`) all end up with the one secret that got there first.
    draft = folder / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(value + "\n")
        os.link(draft, path)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    finally:
        draft.unlink(missing_ok=True)
    return value
