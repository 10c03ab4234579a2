"""Benchmark baseline: the smallest CloudEvent function functions-framework can serve."""

import functions_framework


@functions_framework.cloud_event
def hello(cloud_event):
    return None
