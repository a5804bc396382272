"""A real ``milvus-lite server`` for tests and benchmarks: 127.0.0.1, a free port, data in a given folder.

Usage::

    server = MilvusLiteServer(tmp_path / "milvus").start()   # waits until it accepts connections
    config uri: server.uri                                   # http://127.0.0.1:PORT
    server.kill()                                            # SIGKILL, as a lost host would; start() again to restart
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

MILVUS_LITE = Path(sys.executable).with_name("milvus-lite")


class MilvusLiteServer:
    """``milvus-lite server`` on 127.0.0.1 and a free port, its data in ``data_dir``; stopped by ``kill``."""

    def __init__(self, data_dir: Path, port: int | None = None):
        self.data_dir = data_dir
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "MilvusLiteServer":
        self.process = subprocess.Popen(
            [str(MILVUS_LITE), "server", "--data-dir", str(self.data_dir), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"milvus-lite server exited with {self.process.returncode}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.1)
        raise RuntimeError("milvus-lite server did not start within 60 s")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
