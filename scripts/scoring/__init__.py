"""Scoring against references (being sorted into modules by job)."""
