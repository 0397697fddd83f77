"""``whisper-lmi``: the command line, a thin layer over ``whisper_lmi.sagemaker``: ``parser`` (the arguments),
``commands`` (one API call each), ``main`` (the error boundary: one line per error, exit code 1).

May import: ``whisper_lmi.sagemaker``, ``whisper_lmi.artifact`` and ``whisper_lmi.errors``.
"""

from whisper_lmi.cli.main import main

__all__ = ["main"]
