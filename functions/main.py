"""Cloud Functions entry points (gen2, CloudEvents). Deployed with --source=functions.

Each is parse → decide → apply → record (see interlock.entry). Returning acks the event;
raising (a transient failure) makes Pub/Sub redeliver it with backoff.
"""

import functions_framework

from interlock import bootstrap
from interlock.entry import serve, serve_dead_letter


@functions_framework.cloud_event
def on_data_landed(cloud_event):
    serve("on_data_landed", cloud_event, bootstrap.handler)


@functions_framework.cloud_event
def on_model_evaluated(cloud_event):
    serve("on_model_evaluated", cloud_event, bootstrap.handler)


@functions_framework.cloud_event
def on_model_observed(cloud_event):
    serve("on_model_observed", cloud_event, bootstrap.handler)


@functions_framework.cloud_event
def on_request(cloud_event):
    serve("on_request", cloud_event, bootstrap.handler)


@functions_framework.cloud_event
def on_dead_letter(cloud_event):
    serve_dead_letter(cloud_event, bootstrap.handler)
