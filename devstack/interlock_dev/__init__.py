"""Local stack: emulator launchers, the Vertex AI / Cloud Run stand-in, `interlock dev`."""
