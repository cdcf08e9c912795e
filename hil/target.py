"""Where the unit under test runs: this PC (LocalTarget) or a bench unit reached over a shell transport
(SshTarget, `--target ssh://unit`). The rig drives both through the same few verbs: put a file, read
a file, run a command, start the daemon, signal it, wait for it; nothing else of the unit is touched.

SshTarget runs every verb as one shell command through a transport: `ssh -o BatchMode=yes unit` on a
bench, or `sh -c` (`--target sh://`) to exercise the very same code paths on this PC, which is how the
tests cover it.
"""

from __future__ import annotations

import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


class Target:
    """The verbs a rig needs from a unit; paths are the unit's own."""

    name = "target"
    local_files = False   # True when the unit's files are this machine's files (tmpfs, faketime file)

    def put(self, path: str, data: bytes) -> None: raise NotImplementedError
    def read(self, path: str) -> bytes | None: raise NotImplementedError
    def run(self, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess: raise NotImplementedError
    def start(self, config: str, env: dict[str, str], log_path: Path, tunnel_port: int | None = None,
              screen_port: int | None = None) -> None:
        raise NotImplementedError
    def signal(self, sig: int) -> None: raise NotImplementedError
    def wait(self, timeout: float) -> int | None: raise NotImplementedError
    def pid(self) -> int | None: raise NotImplementedError
    def proc_file(self, name: str) -> str | None: raise NotImplementedError
    def count_fds(self) -> int | None: raise NotImplementedError
    def snapshot_db(self, data_dir: str, local: Path) -> bool: raise NotImplementedError
    def file_size(self, path: str) -> int: raise NotImplementedError

    def close(self) -> None:
        """Remove what the rig left on the unit between runs."""

    def alpr(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        """`alpr-unit ARGS` on the unit."""
        return self.run([*self.unit_command(), *args], timeout=timeout)

    def unit_command(self) -> list[str]:
        return [sys.executable, "-m", "firmware"]


class LocalTarget(Target):
    """The daemon as a child process of the rig, on this PC."""

    name = "local"
    local_files = True

    def __init__(self):
        self.proc: subprocess.Popen | None = None
        self._log = None

    def put(self, path: str, data: bytes) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(data)

    def read(self, path: str) -> bytes | None:
        try:
            return Path(path).read_bytes()
        except OSError:
            return None

    def run(self, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(args, capture_output=True, text=True, cwd=REPO, timeout=timeout)

    def start(self, config: str, env: dict[str, str], log_path: Path, tunnel_port: int | None = None,
              screen_port: int | None = None) -> None:
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen([*self.unit_command(), "run", "--config", config], cwd=REPO,
                                     env={**os.environ, **env}, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        if self.proc is None:
            return None
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        if self._log is not None:
            self._log.close()
            self._log = None
        return rc

    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def proc_file(self, name: str) -> str | None:
        pid = self.pid()
        try:
            return Path(f"/proc/{pid}/{name}").read_text() if pid else None
        except OSError:
            return None

    def count_fds(self) -> int | None:
        pid = self.pid()
        try:
            return len(os.listdir(f"/proc/{pid}/fd")) if pid else None
        except OSError:
            return None

    def snapshot_db(self, data_dir: str, local: Path) -> bool:
        """A consistent copy of the unit's database, through SQLite's backup API (readers never block it)."""
        source = Path(data_dir) / "alpr.db"
        if not source.exists():
            return False
        try:
            src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
            dst = sqlite3.connect(local)
            with dst:
                src.backup(dst)
            src.close()
            dst.close()
            return True
        except sqlite3.DatabaseError:
            return False

    def file_size(self, path: str) -> int:
        try:
            return os.stat(path).st_size
        except OSError:
            return 0


class SshTarget(Target):
    """A unit reached through a shell transport. `transport` is the command that runs one shell line on
    the unit (`["ssh", "-o", "BatchMode=yes", "unit"]`, or `["sh", "-c"]` in simulation)."""

    name = "ssh"

    def __init__(self, transport: list[str], unit_command: str = "alpr-unit", workdir: str | None = None):
        workdir = workdir or tempfile.gettempdir()
        self.transport = transport
        self._unit_command = shlex.split(unit_command)
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        self.pidfile = f"{workdir}/alpr-hil-daemon-{os.getpid()}.pid"
        self._log = None

    @classmethod
    def from_url(cls, url: str, unit_command: str | None = None, workdir: str | None = None) -> "SshTarget":
        """ssh://[user@]host[:port] or sh:// (this machine through `sh -c`: the simulation of a bench)."""
        if url.startswith("sh://"):
            command = unit_command or f"{shlex.quote(sys.executable)} -m firmware"
            return cls(["sh", "-c"], command, workdir)
        rest = url[len("ssh://"):]
        host, _, port = rest.partition(":")
        transport = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"] + (["-p", port] if port else []) + [host]
        return cls(transport, unit_command or "alpr-unit", workdir)

    def unit_command(self) -> list[str]:
        return self._unit_command

    def _shell(self, line: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([*self.transport, line], capture_output=True, cwd=REPO, **kw)

    def put(self, path: str, data: bytes) -> None:
        q = shlex.quote(path)
        result = self._shell(f"mkdir -p $(dirname {q}) && cat > {q}", input=data, timeout=120)
        if result.returncode != 0:
            raise OSError(f"cannot write {path} on the unit: {result.stderr.decode(errors='replace').strip()}")

    def read(self, path: str) -> bytes | None:
        result = self._shell(f"cat {shlex.quote(path)}", timeout=120)
        return result.stdout if result.returncode == 0 else None

    def run(self, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
        result = self._shell(" ".join(shlex.quote(a) for a in args), timeout=timeout)
        return subprocess.CompletedProcess(args, result.returncode, result.stdout.decode(errors="replace"),
                                           result.stderr.decode(errors="replace"))

    def start(self, config: str, env: dict[str, str], log_path: Path, tunnel_port: int | None = None,
              screen_port: int | None = None) -> None:
        """Over ssh the broker is reached through a reverse tunnel on the same port, so the unit connects
        to 127.0.0.1 as in simulation and the broker's certificate (issued for 127.0.0.1) verifies; the
        unit's screen comes back through a local forward the same way."""
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        command = " ".join(shlex.quote(a) for a in [*self._unit_command, "run", "--config", config])
        line = f"echo $$ > {shlex.quote(self.pidfile)}; exec env {exports} {command}"
        self._log = open(log_path, "ab")
        transport = list(self.transport)
        if transport[0] == "ssh" and tunnel_port:
            transport[1:1] = ["-R", f"{tunnel_port}:127.0.0.1:{tunnel_port}"]
        if transport[0] == "ssh" and screen_port:   # the unit's screen, reached here as on the unit
            transport[1:1] = ["-L", f"{screen_port}:127.0.0.1:{screen_port}"]
        self.proc = subprocess.Popen([*transport, line], cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def _remote_pid(self) -> int | None:
        text = self.read(self.pidfile)
        try:
            return int(text.strip()) if text else None
        except ValueError:
            return None

    def signal(self, sig: int) -> None:
        pid = self._remote_pid()
        if pid is not None and self.proc is not None and self.proc.poll() is None:
            self._shell(f"kill -{int(sig)} {pid}", timeout=30)

    def wait(self, timeout: float) -> int | None:
        if self.proc is None:
            return None
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        if self._log is not None:
            self._log.close()
            self._log = None
        return rc

    def pid(self) -> int | None:
        return self._remote_pid() if self.proc is not None and self.proc.poll() is None else None

    def proc_file(self, name: str) -> str | None:
        pid = self.pid()
        data = self.read(f"/proc/{pid}/{name}") if pid else None
        return data.decode(errors="replace") if data else None

    def count_fds(self) -> int | None:
        pid = self.pid()
        if pid is None:
            return None
        result = self._shell(f"ls /proc/{pid}/fd | wc -l", timeout=30)
        try:
            return int(result.stdout.strip())
        except ValueError:
            return None

    def snapshot_db(self, data_dir: str, local: Path) -> bool:
        remote = f"{self.workdir}/alpr-hil-snapshot.db"
        script = ("import sqlite3,sys; s=sqlite3.connect('file:'+sys.argv[1]+'?mode=ro',uri=True,timeout=30);"
                  " d=sqlite3.connect(sys.argv[2]); s.backup(d); d.close()")
        made = self._shell(f"rm -f {shlex.quote(remote)}; python3 -c {shlex.quote(script)} "
                           f"{shlex.quote(data_dir + '/alpr.db')} {shlex.quote(remote)}", timeout=120)
        if made.returncode != 0:
            return False
        data = self.read(remote)
        self._shell(f"rm -f {shlex.quote(remote)}", timeout=30)
        if not data:
            return False
        local.write_bytes(data)
        return True

    def file_size(self, path: str) -> int:
        result = self._shell(f"stat -c %s {shlex.quote(path)} 2>/dev/null || echo 0", timeout=30)
        try:
            return int(result.stdout.strip() or 0)
        except ValueError:
            return 0


    def close(self) -> None:
        self._shell(f"rm -f {shlex.quote(self.pidfile)}", timeout=30)


def make_target(url: str | None, unit_command: str | None = None) -> Target:
    if not url or url == "local":
        return LocalTarget()
    if url.startswith(("ssh://", "sh://")):
        return SshTarget.from_url(url, unit_command)
    raise ValueError(f"unknown target {url!r}: use local, ssh://[user@]host[:port] or sh:// (simulated bench)")


SIGKILL = signal.SIGKILL
