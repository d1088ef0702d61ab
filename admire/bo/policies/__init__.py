"""Policies: what to run next and what to recommend."""
