"""Deploy: what `gcloud functions deploy --source=functions` uploads is what the functions run.

The file list comes from the installed Google Cloud CLI itself (`gcloud meta list-files-for-upload`
applies `functions/.gcloudignore` exactly as a deploy does), so the test cannot drift from gcloud.
"""

from __future__ import annotations

import shutil
import subprocess
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
    assert size < 200_000, f"upload is {size} bytes"
