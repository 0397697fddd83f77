"""Whisper models that need no download, converted from the CTranslate2 wheels (being split into modules by job)."""
