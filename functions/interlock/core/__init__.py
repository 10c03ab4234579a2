"""Core layer: pure decisions, value objects and contracts. Standard library only; time is an argument."""
