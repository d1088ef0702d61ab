"""The study schema: config, fidelity ladder and runs table."""
