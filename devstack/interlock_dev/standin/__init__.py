"""Local stack: a stand-in for the Vertex AI Model Registry and Cloud Run Admin v2 REST APIs.

Vertex AI and Cloud Run have no emulator, so this server speaks the REST subset our adapters use,
faithfully enough that the real GAPIC clients (REST transport) talk to it unchanged. Standard
library only; state lives in SQLite so it survives restarts. Run `python -m interlock_dev.standin`.
"""
