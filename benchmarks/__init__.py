"""Load tests and measurements against a running server."""
