"""Conformance: the TrafficRouter and ModelRegistry contract suites, run against Google Cloud."""

from __future__ import annotations

import pytest

from tests.contract.test_model_registry import TestModelRegistry as _Registry
from tests.contract.test_traffic_router import TestTrafficRouter as _Router

from .conftest import Google
from .live import GoogleRunHarness, GoogleVertexHarness


class TestTrafficRouterOnCloudRun(_Router):
    @pytest.fixture
    def harness(self, google: Google) -> GoogleRunHarness:
        return GoogleRunHarness(google)


class TestModelRegistryOnVertex(_Registry):
    @pytest.fixture
    def harness(self, google: Google) -> GoogleVertexHarness:
        return GoogleVertexHarness(google)
