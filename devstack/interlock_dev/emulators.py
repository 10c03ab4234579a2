"""Local stack: the Google Cloud CLI's Pub/Sub and Firestore emulators as managed child processes.

Both are JVMs started in their own process group (see `ServiceProcess`) on a port checked free
first: the Pub/Sub emulator does not exit when its port is taken, it hangs, so a busy port would
only show up as a readiness timeout.
"""

from __future__ import annotations

import functools
import glob
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from interlock_dev.processes import (
    HOST,
    ServiceProcess,
    http_ok,
    owns_port,
    port_is_free,
    wait_until,
)

SDK_PLATFORM = Path(
    os.environ.get("INTERLOCK_GCLOUD_PLATFORM", "/usr/lib/google-cloud-sdk/platform")
)
PUBSUB_JAR_GLOB = "pubsub-emulator/lib/cloud-pubsub-emulator-*-all.jar"
FIRESTORE_LAUNCHER = "cloud-firestore-emulator/cloud_firestore_emulator"
MIN_JAVA = 17
READY_TIMEOUT_S = 30.0


def pubsub_jar() -> Path | None:
    jars = sorted(glob.glob(str(SDK_PLATFORM / PUBSUB_JAR_GLOB)))
    return Path(jars[-1]) if jars else None


def firestore_launcher() -> Path | None:
    path = SDK_PLATFORM / FIRESTORE_LAUNCHER
    return path if path.is_file() else None


@functools.cache
def java_major_version(java: str = "java") -> int | None:
    exe = shutil.which(java)
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "-version"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    # `java -version` prints to stderr, e.g. 'openjdk version "17.0.15"' or '"1.8.0_392"'.
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def _java_unavailable() -> str | None:
    version = java_major_version()
    if version is None:
        return f"no java on PATH (the emulators need Java >= {MIN_JAVA})"
    if version < MIN_JAVA:
        return f"java {version} found, the emulators need Java >= {MIN_JAVA}"
    return None


def pubsub_unavailable() -> str | None:
    if pubsub_jar() is None:
        where = SDK_PLATFORM / PUBSUB_JAR_GLOB
        return f"no Pub/Sub emulator jar at {where} (install google-cloud-cli-pubsub-emulator)"
    return _java_unavailable()


def firestore_unavailable() -> str | None:
    if firestore_launcher() is None:
        where = SDK_PLATFORM / FIRESTORE_LAUNCHER
        return f"no Firestore emulator at {where} (install google-cloud-cli-firestore-emulator)"
    return _java_unavailable()


def emulators_unavailable() -> str | None:
    """Why the emulators cannot run on this machine, or None when both can."""
    return pubsub_unavailable() or firestore_unavailable()


class Emulator:
    """Shared start/stop for an emulator that answers `GET /` with `Ok` once it serves."""

    name = "emulator"
    env_var = ""

    def __init__(self, port: int, log_dir: Path) -> None:
        self.port = port
        self.log_path = log_dir / f"{self.name}-{port}.log"
        self.process: ServiceProcess | None = None
        self.start_seconds: float | None = None

    @property
    def host_port(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host_port}"

    def argv(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout_s: float = READY_TIMEOUT_S) -> Emulator:
        if not port_is_free(self.port):
            raise RuntimeError(f"{self.name}: port {self.port} on {HOST} is taken")
        began = time.monotonic()
        process = self.process = ServiceProcess(self.name, self.argv(), self.log_path).start()
        try:
            wait_until(
                # Its own JVM must hold the port: another emulator answering "Ok" is not it.
                lambda: (
                    http_ok(self.url + "/", body_contains="Ok") and owns_port(process, self.port)
                ),
                timeout_s,
                f"{self.name} on {self.host_port}",
                process,
            )
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace_s=5.0)
            self.process = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class PubSubEmulator(Emulator):
    """`PUBSUB_EMULATOR_HOST=<host_port>` points google-cloud-pubsub at it."""

    name = "pubsub-emulator"
    env_var = "PUBSUB_EMULATOR_HOST"

    def argv(self) -> list[str]:
        jar = pubsub_jar()
        if jar is None:
            raise RuntimeError(pubsub_unavailable() or "no Pub/Sub emulator jar")
        return ["java", "-jar", str(jar), f"--host={HOST}", f"--port={self.port}"]


class FirestoreEmulator(Emulator):
    """`FIRESTORE_EMULATOR_HOST=<host_port>` points google-cloud-firestore at it.

    It logs "Dev App Server is now running." and, like Pub/Sub, answers `GET /` with `Ok` when
    ready. The launcher is a shell script that execs nothing (the JVM is its child), which is why
    the whole process group must be killed.
    """

    name = "firestore-emulator"
    env_var = "FIRESTORE_EMULATOR_HOST"

    def argv(self) -> list[str]:
        launcher = firestore_launcher()
        if launcher is None:
            raise RuntimeError(firestore_unavailable() or "no Firestore emulator")
        return [str(launcher), "start", f"--host={HOST}", f"--port={self.port}"]
