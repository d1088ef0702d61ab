"""Benchmark problems: recorded or generated runs tables with their objective and a budget."""
