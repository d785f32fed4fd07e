"""Artifact discovery helpers (pure): semantic versions, constraints and tag selection."""
