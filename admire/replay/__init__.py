"""Replay: compare policies offline on a recorded runs table (a Study with a recorded-runs
evaluator and a policy, run by the one loop)."""
