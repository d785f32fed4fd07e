"""Temporal workflows: orchestration only, one module per workflow."""
