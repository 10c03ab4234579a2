"""Deploy: what `gcloud functions deploy --source=functions` uploads is what the functions run.

The file list comes from the installed Google Cloud CLI itself (`gcloud meta list-files-for-upload`
applies `functions/.gcloudignore` exactly as a deploy does), so the test cannot drift from gcloud.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

from tests.fixtures.components import require

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "functions"
# Dev tooling and test doubles: none of it may ship in a function's source upload.
NEVER_UPLOADED = ("interlock/cli/", "interlock/contract", "interlock/local/", "interlock/fakes/")


@cache
def uploaded() -> tuple[str, ...]:
    gcloud = shutil.which("gcloud")
    require("Google Cloud CLI", None if gcloud else "gcloud is not on PATH")
    out = subprocess.run(
        [str(gcloud), "meta", "list-files-for-upload", str(SOURCE)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return tuple(sorted(line.strip() for line in out.stdout.splitlines() if line.strip()))


def test_upload_holds_no_dev_tooling_or_fakes_when_deployed_from_functions():
    leaked = [f for f in uploaded() if f.startswith(NEVER_UPLOADED)]
    assert leaked == []


def test_upload_holds_every_module_the_entry_points_import_when_deployed():
    files = set(uploaded())
    for needed in ("main.py", "requirements.txt", "interlock/bootstrap.py", "interlock/entry.py"):
        assert needed in files
    assert any(f.startswith("interlock/core/") for f in files)
    assert any(f.startswith("interlock/adapters/") for f in files)


def test_upload_is_small_when_only_the_runtime_ships():
    # README quotes the figure; keep it honest within a margin rather than to the byte.
    size = sum((SOURCE / f).stat().st_size for f in uploaded() if (SOURCE / f).is_file())
    assert size < 450_000, f"upload is {size} bytes"


def test_every_uploaded_module_imports_from_the_upload_alone_when_deployed(tmp_path):
    # A module the functions import but .gcloudignore leaves out would fail only on Google Cloud:
    # import every uploaded module from a copy of the upload, never from the checkout.
    for name in uploaded():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((SOURCE / name).read_bytes())
    modules = [
        name.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        for name in uploaded()
        if name.endswith(".py")
    ]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "outside = [m.__name__ for m in list(sys.modules.values())\n"
        "           if m.__name__.split('.')[0] in ('interlock', 'main', 'interlock_dev')\n"
        f"           and not str(getattr(m, '__file__', '') or '').startswith({str(tmp_path)!r})]\n"
        "print(outside)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
