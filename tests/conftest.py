"""Shared fixtures: each real component's fixture lives in its own module under tests/fixtures."""

import signal


def _interrupt(signum, frame):
    # A SIGTERM (CI cancelling, `timeout`, `kill`) unwinds like Ctrl-C, so every fixture's
    # finalizer runs and no emulator, Airflow or function process outlives the test run.
    raise KeyboardInterrupt


signal.signal(signal.SIGTERM, _interrupt)

pytest_plugins = [
    "tests.fixtures.components",
    "tests.fixtures.standin",
    "tests.fixtures.airflow",
    "tests.fixtures.emulators",
]
