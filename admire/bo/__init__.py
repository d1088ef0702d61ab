"""Bayesian optimisation: surrogates, acquisitions, candidates and policies."""
