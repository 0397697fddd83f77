"""Test material (being sorted into modules by job)."""
