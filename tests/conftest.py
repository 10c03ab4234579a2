"""Shared fixtures: each real component's fixture lives in its own module under tests/fixtures."""

pytest_plugins = [
    "tests.fixtures.components",
    "tests.fixtures.standin",
    "tests.fixtures.airflow",
    "tests.fixtures.emulators",
]
