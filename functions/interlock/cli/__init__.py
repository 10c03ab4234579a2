"""CLI layer: `interlock …` — publish and request, explain, check a policy, read status, run locally."""
