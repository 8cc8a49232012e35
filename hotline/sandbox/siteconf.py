"""Write an instance's configuration: a copy of ``asterisk_conf/`` plus the generated site files.

``asterisk_conf/`` holds no machine values; the site files carry them (addresses, ports, secrets,
folders, agent seats).  For the sandbox the site files also include the simulator's configuration
from ``asterisk_conf/sandbox/``; an operator's Asterisk gets neither the simulator nor its users.
Every value written is checked first (addresses parse as IP addresses, secrets are hex), so a
setting cannot smuggle a new line or section into a config file.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from hotline.config import Settings, path_is_set, secret_from_file
from hotline.sandbox.layout import Layout

SIMULATOR_DIR = "sandbox"
_SECRET = re.compile(r"^[A-Za-z0-9]{16,128}$")
_USER = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class SiteConfigError(ValueError):
    """A setting that cannot be written into the Asterisk configuration."""


def default_conf_source() -> Path:
    """The ``asterisk_conf/`` folder of this checkout."""
    return Path(__file__).resolve().parents[2] / "asterisk_conf"


def _ip(value: str, name: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise SiteConfigError(f"setting {name!r}: {value!r} is not an IP address") from None


def _secret(value: str, name: str) -> str:
    if not _SECRET.match(value):
        raise SiteConfigError(f"secret {name!r} must be 16-128 letters and digits")
    return value


def _user(value: str, name: str) -> str:
    if not _USER.match(value):
        raise SiteConfigError(f"setting {name!r}: {value!r} is not a plain user name")
    return value


def _permit(value: str) -> str:
    try:
        network = ipaddress.ip_network(value.replace("/255.255.255.255", "/32"), strict=False)
    except ValueError:
        raise SiteConfigError(f"setting 'ami_permit': {value!r} is not an address/mask") from None
    return f"{network.network_address}/{network.netmask}"


SOFTPHONE = "softphone"  # the sandbox's resident softphone endpoint and login name
SOFTPHONE_SECRET = "softphone"  # its password's file in data_dir/secrets


def seat_names(count: int) -> list[str]:
    """The agent seat endpoints: agent01, agent02, ..."""
    if not 0 <= count <= 500:
        raise SiteConfigError("setting 'agent_seats': between 0 and 500")
    return [f"agent{n:02d}" for n in range(1, count + 1)]


@dataclass(frozen=True)
class SiteValues:
    """Every machine value the site files carry, checked."""

    sandbox: bool
    sip: tuple[str, int]
    carrier: tuple[str, int]
    sim: tuple[str, int]
    sim_phone_host: str
    sim_bench_host: str
    ami: tuple[str, int]
    ami_user: str
    ami_secret: str
    ami_permit: str
    sim_ami_user: str
    sim_ami_secret: str
    agi: tuple[str, int]
    recordings: PurePosixPath
    queue_wait_seconds: int
    seats: dict[str, str]  # seat -> password
    softphone_secret: str = ""  # the sandbox's resident softphone (empty: none)

    @classmethod
    def from_settings(cls, settings: Settings, layout: Layout) -> SiteValues:
        """Collect and check the values; secrets are generated once into the data directory."""
        sandbox = settings.asterisk_mode == "sandbox"
        data_dir = settings.data_dir
        sim = (_ip(settings.sim_host, "sim_host"), settings.sim_port)
        carrier = sim
        if settings.carrier_host:
            carrier = (_ip(settings.carrier_host, "carrier_host"), settings.carrier_port)
        return cls(
            sandbox=sandbox,
            sip=(_ip(settings.sip_host, "sip_host"), settings.sip_port),
            carrier=carrier,
            sim=sim,
            sim_phone_host=_ip(settings.sim_phone_host, "sim_phone_host"),
            sim_bench_host=_ip(settings.sim_bench_host, "sim_bench_host"),
            ami=(_ip(settings.ami_host, "ami_host"), settings.ami_port),
            ami_user=_user(settings.ami_user, "ami_user"),
            ami_secret=_secret(settings.ami_secret or secret_from_file(data_dir, "ami-secret"), "ami_secret"),
            ami_permit=_permit(settings.ami_permit),
            sim_ami_user=_user(settings.sim_ami_user, "sim_ami_user"),
            sim_ami_secret=_secret(secret_from_file(data_dir, "ami-sim-secret"), "ami-sim-secret"),
            agi=(_ip(settings.agi_host, "agi_host"), settings.agi_port),
            recordings=layout.recordings,
            queue_wait_seconds=max(5, settings.queue_wait_seconds),
            seats={seat: _secret(secret_from_file(data_dir, f"seat-{seat}"), seat)
                   for seat in seat_names(settings.agent_seats)},
            softphone_secret=_secret(secret_from_file(data_dir, SOFTPHONE_SECRET), SOFTPHONE) if sandbox else "",
        )


def _hostport(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _section(name: str, template: str | None = None, **options: str) -> str:
    head = f"[{name}]({template})" if template else f"[{name}]"
    return "\n".join([head, *(f"{key} = {value}" for key, value in options.items()), ""])


def pjsip_site(values: SiteValues) -> str:
    """site/pjsip.conf: the transport, the carrier's address, the agent seats (and the simulator)."""
    parts = ["; Generated by `hotline asterisk`; machine values only.", "",
             _section("hotline", type="transport", protocol="udp", bind=_hostport(values.sip)),
             _section("carrier", "carrier-endpoint", aors="carrier", transport="hotline"),
             _section("carrier", "carrier-aor", contact=f"sip:{_hostport(values.carrier)}"),
             _section("carrier", "carrier-identify", match=_hostport(values.carrier))]
    for seat, password in values.seats.items():
        parts += [_section(seat, "agent-phone", auth=seat, aors=seat, transport="hotline"),
                  _section(seat, "agent-auth", username=seat, password=password),
                  _section(seat, "agent-aor")]
    if values.sandbox:
        parts += [f'#include "{SIMULATOR_DIR}/pjsip_sim.conf"', "", *_simulator_pjsip(values),
                  *_softphone_pjsip(values)]
    return "\n".join(parts)


def _softphone_pjsip(values: SiteValues) -> list[str]:
    """The sandbox's resident softphone: any SIP phone registered with these credentials dials 96345
    as a resident would (context ``from-carrier``: the IVR and the queues, never an outbound route)."""
    if not values.softphone_secret:
        return []
    return [_section(SOFTPHONE, "carrier-endpoint", context="from-carrier", auth=SOFTPHONE, aors=SOFTPHONE,
                     transport="hotline", rewrite_contact="yes", trust_id_inbound="no", language="zh",
                     callerid='"Demo resident" <13800009999>'),
            _section(SOFTPHONE, "agent-auth", username=SOFTPHONE, password=values.softphone_secret),
            _section(SOFTPHONE, "agent-aor")]


def _simulator_pjsip(values: SiteValues) -> list[str]:
    sim_port = values.sim[1]
    hotline = _hostport(values.sip)
    parts = [_section("sim-carrier", type="transport", protocol="udp", bind=_hostport(values.sim)),
             _section("sim-phones", type="transport", protocol="udp",
                      bind=_hostport((values.sim_phone_host, sim_port))),
             _section("sim-bench", type="transport", protocol="udp",
                      bind=_hostport((values.sim_bench_host, sim_port))),
             _section("to-hotline", "sim-trunk", aors="to-hotline", transport="sim-carrier"),
             _section("to-hotline", "sim-trunk-aor", contact=f"sip:{hotline}"),
             _section("to-hotline", "sim-trunk-identify", endpoint="to-hotline", match=hotline),
             _section("to-hotline-bench", "sim-trunk", aors="to-hotline", transport="sim-bench"),
             _section("bench-carrier", "bench-carrier-endpoint", transport="hotline"),
             _section("bench-carrier", type="identify", endpoint="bench-carrier",
                      match=_hostport((values.sim_bench_host, sim_port)))]
    for seat, password in values.seats.items():
        parts += [_section(f"sim-{seat}", "sim-phone-auth", username=seat, password=password),
                  _section(f"sim-{seat}", "sim-phone-registration", transport="sim-phones",
                           outbound_auth=f"sim-{seat}", server_uri=f"sip:{hotline}",
                           client_uri=f"sip:{seat}@{hotline}", contact_user=seat),
                  _section(f"sim-{seat}", "sim-phone-endpoint", aors=f"sim-{seat}",
                           outbound_auth=f"sim-{seat}", from_user=seat, transport="sim-phones"),
                  _section(f"sim-{seat}", "sim-trunk-aor", contact=f"sip:{hotline}")]
    return parts


def manager_site(values: SiteValues) -> str:
    """site/manager.conf: where AMI listens."""
    host, port = values.ami
    return f"; Generated by `hotline asterisk`.\nbindaddr = {host}\nport = {port}\n"


def manager_users_site(values: SiteValues) -> str:
    """site/manager_users.conf: the console's AMI user (and the simulator's in the sandbox)."""
    parts = ["; Generated by `hotline asterisk`; secrets live in the data directory.", "",
             _section(values.ami_user, "hotline-console", secret=values.ami_secret, permit=values.ami_permit)]
    if values.sandbox:
        parts += [f'#include "{SIMULATOR_DIR}/manager_sim.conf"', "",
                  _section(values.sim_ami_user, "hotline-simulator", secret=values.sim_ami_secret,
                           permit="127.0.0.0/255.0.0.0")]
    return "\n".join(parts)


def extensions_globals_site(values: SiteValues) -> str:
    """site/extensions_globals.conf: the FastAGI address and the recordings folder."""
    return ("; Generated by `hotline asterisk`.\n"
            f"HOTLINE_AGI = {_hostport(values.agi)}\n"
            f"HOTLINE_RECORDINGS = {values.recordings}\n"
            f"HOTLINE_QUEUE_WAIT = {values.queue_wait_seconds}\n")


def extensions_site(values: SiteValues) -> str:
    """site/extensions.conf: the simulator's dialplan in the sandbox, nothing otherwise."""
    text = "; Generated by `hotline asterisk`.\n"
    if values.sandbox:
        text += f'#include "{SIMULATOR_DIR}/extensions_sim.conf"\n'
    return text


def asterisk_conf_text(template: str, layout: Layout) -> str:
    """asterisk.conf with this instance's folders in [directories]."""
    directories = {
        "astcachedir": layout.cache, "astetcdir": layout.etc, "astmoddir": layout.module_dir,
        "astvarlibdir": layout.lib, "astdbdir": layout.lib, "astkeydir": layout.lib,
        "astdatadir": layout.data_dir, "astagidir": layout.data_dir / "agi-bin", "astspooldir": layout.spool,
        "astrundir": layout.run, "astlogdir": layout.log, "astsbindir": PurePosixPath("/usr/sbin"),
    }
    out: list[str] = []
    section = ""
    for line in template.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped.split("]")[0].lstrip("[")
        elif section == "directories" and "=>" in stripped and not stripped.startswith(";"):
            key = stripped.split("=>")[0].strip()
            if key in directories:
                line = f"{key} => {directories.pop(key)}"
        out.append(line)
    return "\n".join(out) + "\n"


def write_instance_config(settings: Settings, layout: Layout, source: Path | None = None) -> SiteValues:
    """Replace the instance's config folder with ``asterisk_conf/`` and fresh site files."""
    if source is None:
        configured = settings.asterisk_conf_dir
        source = configured if path_is_set(configured) else default_conf_source()
    if not (source / "extensions.conf").is_file():
        raise SiteConfigError(f"{source} does not look like asterisk_conf/ (no extensions.conf)")
    values = SiteValues.from_settings(settings, layout)
    etc = layout.host(layout.etc)
    if etc.exists():
        shutil.rmtree(etc)
    ignore = None if values.sandbox else shutil.ignore_patterns(SIMULATOR_DIR)
    shutil.copytree(source, etc, ignore=ignore)
    (etc / "asterisk.conf").write_text(asterisk_conf_text((source / "asterisk.conf").read_text(), layout))
    site = etc / "site"
    site.mkdir(exist_ok=True)
    files = {
        "pjsip.conf": pjsip_site(values),
        "manager.conf": manager_site(values),
        "manager_users.conf": manager_users_site(values),
        "extensions_globals.conf": extensions_globals_site(values),
        "extensions.conf": extensions_site(values),
    }
    for name, text in files.items():
        path = site / name
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)
    return values
