"""Where one Asterisk instance keeps its files, as Asterisk sees them and as the host sees them.

In the sandbox Asterisk runs chrooted in the provisioned root, so a path Asterisk uses
(``/srv/hotline96345/<instance>/etc``) is ``<root>/srv/hotline96345/<instance>/etc`` on the host.
For an operator's own Asterisk both are the same folder under the data directory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from hotline.config import Settings, path_is_set

SANDBOX_BASE = PurePosixPath("/srv/hotline96345")
MODULE_DIR_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/asterisk/modules",
    "/usr/lib/aarch64-linux-gnu/asterisk/modules",
    "/usr/lib64/asterisk/modules",
    "/usr/lib/asterisk/modules",
)
_INSTANCE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,40}$")


@dataclass(frozen=True)
class Layout:
    """The folders of one instance; ``inner`` paths are Asterisk's view, ``host()`` maps them."""

    root: Path | None  # the chroot, or None for the operator's own Asterisk
    base: PurePosixPath  # everything of this instance lives below it (Asterisk's view)
    data_dir: PurePosixPath  # sounds, MOH, AGI scripts of the installed Asterisk
    module_dir: PurePosixPath
    recordings_host: Path  # the recordings folder on the host (the console serves it)
    etc_dir: PurePosixPath | None = None  # default base/etc

    @property
    def etc(self) -> PurePosixPath:
        """Configuration folder (a copy of asterisk_conf/ plus site/)."""
        return self.etc_dir if self.etc_dir is not None else self.base / "etc"

    @property
    def config_file(self) -> PurePosixPath:
        """The asterisk.conf Asterisk is started with (-C)."""
        return self.etc / "asterisk.conf"

    @property
    def log(self) -> PurePosixPath:
        """Logs, queue_log and cdr-custom/Master.csv."""
        return self.base / "log"

    @property
    def run(self) -> PurePosixPath:
        """Control socket and pid files."""
        return self.base / "run"

    @property
    def lib(self) -> PurePosixPath:
        """AstDB and keys."""
        return self.base / "lib"

    @property
    def spool(self) -> PurePosixPath:
        """Spool folder (voicemail, outgoing, tmp)."""
        return self.base / "spool"

    @property
    def cache(self) -> PurePosixPath:
        """Cache folder."""
        return self.base / "cache"

    @property
    def recordings(self) -> PurePosixPath:
        """Where MixMonitor and Record() write, as Asterisk sees it."""
        if self.root is None:
            return PurePosixPath(self.recordings_host)
        return self.base / "recordings"

    def host(self, inner: PurePosixPath) -> Path:
        """The host path of a path Asterisk uses."""
        if self.root is None:
            return Path(inner)
        return self.root / str(inner).lstrip("/")

    @property
    def queue_log(self) -> Path:
        """The queue_log file on the host."""
        return self.host(self.log) / "queue_log"

    @property
    def cdr_csv(self) -> Path:
        """The CDR CSV file on the host."""
        return self.host(self.log) / "cdr-custom" / "Master.csv"

    @property
    def full_log(self) -> Path:
        """Asterisk's full log on the host."""
        return self.host(self.log) / "full"

    @property
    def console_log(self) -> Path:
        """Asterisk's stdout/stderr on the host."""
        return self.host(self.log) / "console.log"

    @property
    def pid_file(self) -> Path:
        """The pid file the sandbox runner writes on the host."""
        return self.host(self.run) / "sandbox.pid"

    def created_dirs(self) -> list[Path]:
        """Host folders to create before Asterisk starts."""
        inner = [self.etc, self.log, self.log / "cdr-custom", self.run, self.lib, self.spool, self.cache,
                 self.spool / "tmp", self.spool / "outgoing", self.spool / "voicemail"]
        dirs = [self.host(p) for p in inner]
        dirs.append(self.recordings_host)
        if self.root is not None:
            dirs.append(self.host(self.recordings))
        return dirs


def check_instance(name: str) -> str:
    """An instance name is a short lowercase token (it becomes a folder name)."""
    if not _INSTANCE.match(name):
        raise ValueError(f"instance name {name!r}: use lowercase letters, digits, '-' or '_'")
    return name


def _module_dir(root: Path | None) -> PurePosixPath:
    prefix = root if root is not None else Path("/")
    for candidate in MODULE_DIR_CANDIDATES:
        if (prefix / candidate.lstrip("/")).is_dir():
            return PurePosixPath(candidate)
    return PurePosixPath(MODULE_DIR_CANDIDATES[0])


def layout_for(settings: Settings) -> Layout:
    """The layout of the instance the settings name."""
    instance = check_instance(settings.asterisk_instance)
    recordings = settings.resolved_recordings_dir().resolve()
    if settings.asterisk_mode == "sandbox":
        root = settings.asterisk_root.expanduser().resolve()
        return Layout(root=root, base=SANDBOX_BASE / instance, data_dir=PurePosixPath("/usr/share/asterisk"),
                      module_dir=_module_dir(root), recordings_host=recordings)
    base = (settings.data_dir / "asterisk" / instance).resolve()
    etc = None
    if path_is_set(settings.asterisk_config_dir):
        etc = PurePosixPath(settings.asterisk_config_dir.resolve())
    data_dir = Path("/usr/share/asterisk")
    if path_is_set(settings.asterisk_data_dir):
        data_dir = settings.asterisk_data_dir
    return Layout(root=None, base=PurePosixPath(base), data_dir=PurePosixPath(data_dir),
                  module_dir=_module_dir(None), recordings_host=recordings, etc_dir=etc)
