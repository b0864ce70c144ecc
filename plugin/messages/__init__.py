"""Codes in messages: a merchant's template rendered for one customer, sandboxed."""
