"""Discounts, code pools, generation, CSV, assignment and race-free redemption."""
