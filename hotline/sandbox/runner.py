"""Start, stop, query and drive one Asterisk instance.

The sandbox runs ``asterisk -f`` chrooted in the provisioned root inside a private mount namespace
(``unshare --mount``): ``/proc``, ``/dev`` and the recordings folder are bind-mounted there, so the
mounts exist only as long as Asterisk does and nothing is left mounted after it stops, however it
stops.  For ``asterisk_mode = "system"`` the operator's binary runs with the same configuration.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from hotline.config import Settings
from hotline.sandbox.layout import Layout, layout_for
from hotline.sandbox.provision import Progress, is_provisioned, provision_root
from hotline.sandbox.siteconf import SiteValues, write_instance_config

# Run by /bin/sh inside the new mount namespace; paths arrive as positional parameters, never
# interpolated into the script.
_CHROOT_SCRIPT = (
    'set -e; root="$1"; shift; recordings_host="$1"; shift; recordings_inner="$1"; shift; '
    'mount --make-rprivate / 2>/dev/null || true; '
    'mount --bind /proc "$root/proc"; mount --bind /dev "$root/dev"; '
    'mount --bind "$recordings_host" "$root$recordings_inner"; '
    'exec chroot "$root" "$@"'
)


class SandboxError(RuntimeError):
    """Asterisk could not be started, stopped or reached, with the reason."""


@dataclass(frozen=True)
class Status:
    """What ``hotline asterisk status`` reports."""

    running: bool
    pid: int | None
    instance: str
    mode: str
    version: str = ""
    uptime: str = ""
    channels: str = ""

    def as_dict(self) -> dict[str, object]:
        """The status as plain values (for --json)."""
        return dict(self.__dict__)


class Sandbox:
    """One Asterisk instance: the provisioned root (or the operator's Asterisk) and its files."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.layout: Layout = layout_for(settings)
        self._process: subprocess.Popen[bytes] | None = None
        self.site: SiteValues | None = None

    # -- provisioning -------------------------------------------------------------------------
    @property
    def is_sandbox(self) -> bool:
        """True for the provisioned root, False for the operator's own Asterisk."""
        return self.layout.root is not None

    def provision(self, progress: Progress = print, force: bool = False) -> None:
        """Build the sandbox root unless a complete one is cached."""
        if self.layout.root is None:
            progress("asterisk_mode is 'system': nothing to provision")
            return
        provision_root(self.layout.root, self.settings.asterisk_suite, progress, force=force)

    def is_provisioned(self) -> bool:
        """Whether the sandbox root is ready (always True for the operator's Asterisk)."""
        return self.layout.root is None or is_provisioned(self.layout.root, self.settings.asterisk_suite)

    # -- commands -----------------------------------------------------------------------------
    def _asterisk_argv(self, *args: str) -> list[str]:
        binary = "asterisk" if self.is_sandbox else self.settings.asterisk_binary
        return [binary, "-C", str(self.layout.config_file), *args]

    def _wrapped(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the root (chroot) or as is."""
        if self.layout.root is None:
            return argv
        return ["chroot", str(self.layout.root), *argv]

    def cli(self, command: str, timeout: float = 20.0) -> str:
        """Run one Asterisk CLI command on the running instance and return its output."""
        if "\n" in command or "\r" in command:
            raise SandboxError("a CLI command is one line")
        argv = self._wrapped(self._asterisk_argv("-rx", command))
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise SandboxError(f"CLI command {command!r} timed out after {timeout:.0f} s") from None
        if result.returncode != 0 and not result.stdout:
            reason = result.stderr.strip() or result.returncode
            raise SandboxError(f"CLI command {command!r} failed: {reason}")
        return result.stdout

    # -- lifecycle ----------------------------------------------------------------------------
    def pid(self) -> int | None:
        """The pid of the running Asterisk of this instance, or None."""
        try:
            pid = int(self.layout.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _is_our_asterisk(pid, str(self.layout.config_file)) else None

    def start(self, progress: Progress = print) -> int:
        """Provision if needed, write the configuration, start Asterisk and wait until it has booted."""
        running = self.pid()
        if running is not None:
            progress(f"Asterisk instance {self.settings.asterisk_instance!r} already running (pid {running})")
            return running
        if self.is_sandbox and os.geteuid() != 0:
            raise SandboxError("the sandbox runs Asterisk chrooted: run as root")
        if not self.is_provisioned():
            self.provision(progress)
        for folder in self.layout.created_dirs():
            folder.mkdir(parents=True, exist_ok=True)
        self.site = write_instance_config(self.settings, self.layout)
        process = self._spawn()
        self.layout.pid_file.write_text(f"{process.pid}\n")
        try:
            self._wait_booted(process)
        except SandboxError:
            self._terminate(process.pid)
            raise
        progress(f"Asterisk instance {self.settings.asterisk_instance!r} running (pid {process.pid})")
        return process.pid

    def _spawn(self) -> subprocess.Popen[bytes]:
        argv = self._asterisk_argv("-f", "-n")
        if self.layout.root is not None:
            mounts = [str(self.layout.root), str(self.layout.recordings_host), str(self.layout.recordings)]
            argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", _CHROOT_SCRIPT, "sh",
                    *mounts, *argv]
        console = open(self.layout.console_log, "ab")  # noqa: SIM115 - handed to the child
        try:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=console, stderr=console,
                                       start_new_session=True)
        finally:
            console.close()
        self._process = process
        return process

    def _wait_booted(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + self.settings.asterisk_boot_timeout_seconds
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SandboxError(f"Asterisk exited with {process.returncode} while starting:\n"
                                   + self.console_tail())
            if (self.layout.host(self.layout.run) / "asterisk.ctl").exists():
                try:
                    self.cli("core waitfullybooted", timeout=max(1.0, deadline - time.monotonic()))
                    return
                except SandboxError:
                    pass
            time.sleep(0.2)
        raise SandboxError(f"Asterisk did not boot within {self.settings.asterisk_boot_timeout_seconds} s:\n"
                           + self.console_tail())

    def console_tail(self, lines: int = 30) -> str:
        """The last lines Asterisk printed (and of its messages log)."""
        text = ""
        for path in (self.layout.console_log, self.layout.host(self.layout.log) / "messages"):
            if path.exists():
                text += "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
        return text

    def stop(self, timeout: float = 15.0) -> bool:
        """Stop Asterisk cleanly (``core stop now``, then signals); True if one was running."""
        pid = self.pid()
        if pid is None:
            self.layout.pid_file.unlink(missing_ok=True)
            return False
        with contextlib.suppress(SandboxError):
            self.cli("core stop now", timeout=5)
        if not self._wait_gone(pid, timeout):
            self._terminate(pid)
        self.layout.pid_file.unlink(missing_ok=True)
        return True

    def kill(self, timeout: float = 10.0) -> bool:
        """Kill Asterisk at once (SIGKILL), as a crash or a power loss would: its calls get no
        Hangup event and no CDR row.  The mounts go with its namespace.  True if one was running."""
        pid = self.pid()
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if not self._wait_gone(pid, timeout):
            raise SandboxError(f"Asterisk pid {pid} is still there after SIGKILL")
        self.layout.pid_file.unlink(missing_ok=True)
        return True

    def _terminate(self, pid: int) -> None:
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            if self._wait_gone(pid, grace):
                return
        raise SandboxError(f"Asterisk pid {pid} does not stop")

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.pid == pid:
                if self._process.poll() is not None:
                    return True
            elif not _alive(pid):
                return True
            time.sleep(0.1)
        return False

    def remove_instance(self) -> None:
        """Delete the stopped instance's folders inside the sandbox root (config, logs, AstDB)."""
        if self.pid() is not None:
            raise SandboxError("stop the instance before removing it")
        if self.layout.root is not None:
            shutil.rmtree(self.layout.host(self.layout.base), ignore_errors=True)

    def status(self) -> Status:
        """Whether this instance runs, and its version, uptime and channel count when it does."""
        pid = self.pid()
        base = {"instance": self.settings.asterisk_instance, "mode": self.settings.asterisk_mode}
        if pid is None:
            return Status(running=False, pid=None, **base)
        version = self.cli("core show version").strip()
        uptime = self.cli("core show uptime seconds").strip().replace("\n", "; ")
        channels = self.cli("core show channels count").strip().replace("\n", "; ")
        return Status(running=True, pid=pid, version=version, uptime=uptime, channels=channels, **base)


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    state = _proc_state(pid)
    return state not in {"Z", "X", ""}


def _proc_state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[0]


def _is_our_asterisk(pid: int, config_file: str) -> bool:
    """Whether ``pid`` is an Asterisk started with ``config_file`` (not a recycled pid)."""
    if not _alive(pid):
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"asterisk" in b" ".join(argv) and config_file.encode() in argv
