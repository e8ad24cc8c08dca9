"""Baselines every later model is compared against."""
