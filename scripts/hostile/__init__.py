"""Hostile inputs and the properties they must keep (being sorted into modules by job)."""
