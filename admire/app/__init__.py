"""The user-facing layer: command line, live tuning wiring, views, plots, import, submit."""
