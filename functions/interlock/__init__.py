"""interlock: routes data and model events on Google Cloud to safe, audited actions."""

__version__ = "0.1.0"
