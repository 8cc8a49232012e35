"""Provision Asterisk 22 from Debian's own packages into a local root with mmdebstrap.

The root lives in a cache folder outside the repository (``Settings.asterisk_root``) and is reused
while its marker names the same packages.  It is built in a temporary folder beside it and renamed
into place only when complete, so a half-built root is never used; a lock keeps two provisioners
from building at once.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

# Debian packages the sandbox root holds.  No mirror is named: mmdebstrap uses its default.
PACKAGES = ("asterisk", "asterisk-modules", "asterisk-core-sounds-en-wav", "asterisk-moh-opsound-wav")
MARKER = ".hotline-provisioned"
# The unstable suite's Release file is past its validity date on an archive snapshot.
APT_OPTIONS = ('Acquire::Check-Valid-Until "false"',)

Progress = Callable[[str], None]


class ProvisionError(RuntimeError):
    """The sandbox root could not be built, with the reason."""


def marker_text(suite: str) -> str:
    """What the marker of a complete root says: suite and package list."""
    return f"suite={suite}\npackages={','.join(PACKAGES)}\n"


def is_provisioned(root: Path, suite: str) -> bool:
    """Whether ``root`` is a complete root with the packages this version needs."""
    marker = root / MARKER
    return marker.is_file() and marker.read_text(encoding="utf-8") == marker_text(suite) and (
        root / "usr/sbin/asterisk"
    ).exists()


def mmdebstrap_command(suite: str, target: Path) -> list[str]:
    """The mmdebstrap command line that builds the root into ``target``."""
    command = ["mmdebstrap", "--variant=apt", f"--include={','.join(PACKAGES)}"]
    command += [f"--aptopt={option}" for option in APT_OPTIONS]
    return [*command, suite, str(target)]


def ensure_mmdebstrap(progress: Progress) -> None:
    """Install mmdebstrap with apt-get when it is missing and we are root."""
    if shutil.which("mmdebstrap"):
        return
    if os.geteuid() != 0:
        raise ProvisionError("mmdebstrap is not installed (apt-get install mmdebstrap, as root)")
    progress("installing mmdebstrap with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    result = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "mmdebstrap"],
                            env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not shutil.which("mmdebstrap"):
        raise ProvisionError(f"apt-get install mmdebstrap failed: {result.stderr.strip()[-2000:]}")


@contextmanager
def _build_lock(root: Path) -> Iterator[None]:
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "w", encoding="ascii") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run_streaming(command: list[str], progress: Progress) -> None:
    """Run ``command``, passing each output line to ``progress``; raise with the tail on failure."""
    tail: list[str] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace") as process:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip()
            tail = [*tail[-40:], line]
            progress(line)
        code = process.wait()
    if code != 0:
        raise ProvisionError(f"{command[0]} exited with {code}:\n" + "\n".join(tail))


def provision_root(root: Path, suite: str = "sid", progress: Progress = print, force: bool = False) -> Path:
    """Build the sandbox root at ``root`` unless a complete one is there; return ``root``."""
    if os.geteuid() != 0:
        raise ProvisionError("provisioning the sandbox needs root (mmdebstrap and chroot)")
    with _build_lock(root):
        if is_provisioned(root, suite) and not force:
            progress(f"sandbox root {root} is ready (reused)")
            return root
        ensure_mmdebstrap(progress)
        building = Path(tempfile.mkdtemp(prefix=f".{root.name}.building-", dir=root.parent))
        try:
            progress(f"building the Asterisk root from Debian {suite} packages (about 30 s)")
            _run_streaming(mmdebstrap_command(suite, building), progress)
            (building / MARKER).write_text(marker_text(suite), encoding="utf-8")
            _replace_root(building, root)
        finally:
            if building.exists():
                shutil.rmtree(building, ignore_errors=True)
        progress(f"sandbox root {root} is ready")
        return root


def _replace_root(built: Path, root: Path) -> None:
    """Move ``built`` to ``root``; an older root is moved aside first and removed."""
    old = None
    if root.exists():
        old = root.with_name(f".{root.name}.old-{os.getpid()}")
        os.rename(root, old)
    os.rename(built, root)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
