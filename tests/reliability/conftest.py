"""One rig for the whole suite; its figures are printed at the end (`make reliability`)."""

from __future__ import annotations

import os

import pytest

from interlock_dev.emulators import pubsub_unavailable
from tests.fixtures.components import require

from .rig import FIGURES, Rig

# `make test` runs the suite at a size that keeps it short; `make reliability` at full size.
SCALE = int(os.environ.get("INTERLOCK_RELIABILITY_SCALE", "1"))


@pytest.fixture(scope="session")
def rig(tmp_path_factory):
    require("Pub/Sub emulator", pubsub_unavailable())
    instance = Rig(tmp_path_factory.mktemp("reliability"))
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()


@pytest.fixture(autouse=True)
def _no_faults_left(request):
    yield
    if "rig" in request.fixturenames:
        request.getfixturevalue("rig").clear_faults()


def pytest_terminal_summary(terminalreporter):
    if not FIGURES.sent:
        return
    write = terminalreporter.write_line
    write("")
    write("reliability figures")
    write(
        f"{'scenario':<24} {'sent':>5}  {'final states':<58} {'pend':>5} {'dup':>4} {'lost':>5} {'regr':>5}"
    )
    for scenario, sent in FIGURES.sent.items():
        final = ", ".join(f"{k} {v}" for k, v in sorted(FIGURES.final.get(scenario, {}).items()))
        write(
            f"{scenario:<24} {sent:>5}  {final:<58} {FIGURES.pending[scenario]:>5} "
            f"{FIGURES.duplicate_effects[scenario]:>4} "
            f"{FIGURES.lost[scenario]:>5} {FIGURES.regressions[scenario]:>5}"
        )
    totals = (
        sum(FIGURES.pending.values()),
        sum(FIGURES.duplicate_effects.values()),
        sum(FIGURES.lost.values()),
        sum(FIGURES.regressions.values()),
    )
    write(
        f"{'total':<24} {sum(FIGURES.sent.values()):>5}  {'':<58} {totals[0]:>5} {totals[1]:>4} "
        f"{totals[2]:>5} {totals[3]:>5}"
    )
