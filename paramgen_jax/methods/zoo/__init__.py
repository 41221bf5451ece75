"""zoo: collect a checkpoint zoo and report on it, with no generator (stages.py)."""
