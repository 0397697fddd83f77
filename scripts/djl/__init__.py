"""DJL Serving's Java side, emulated (being split into modules by job)."""
