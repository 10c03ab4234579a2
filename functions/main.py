"""Cloud Functions entry points (gen2, CloudEvents). Deployed with --source=functions.

Each is parse → decide → apply → record (see interlock.entry). Returning acks the event;
raising (a transient failure) makes Pub/Sub redeliver it with backoff.
"""

import functions_framework

from interlock import bootstrap
from interlock.entry import handle_dead_letter, handle_delivery, handle_tick


@functions_framework.cloud_event
def on_data_landed(cloud_event):
    handle_delivery("on_data_landed", cloud_event, bootstrap.handler)


@functions_framework.cloud_event
def on_model_evaluated(cloud_event):
    handle_delivery("on_model_evaluated", cloud_event, bootstrap.handler)


@functions_framework.cloud_event
def on_model_observed(cloud_event):
    handle_delivery("on_model_observed", cloud_event, bootstrap.handler)


@functions_framework.cloud_event
def on_request(cloud_event):
    handle_delivery("on_request", cloud_event, bootstrap.handler)


@functions_framework.cloud_event
def on_alert(cloud_event):
    handle_delivery("on_alert", cloud_event, bootstrap.handler)


@functions_framework.cloud_event
def on_dead_letter(cloud_event):
    handle_dead_letter(cloud_event, bootstrap.handler)


@functions_framework.cloud_event
def on_tick(cloud_event):
    handle_tick(cloud_event, bootstrap.ticker)
