"""Ship whisper-lmi to Amazon SageMaker: package, upload, deploy, invoke, transform, delete, run locally.

One module per job; ``cli.py`` is the command line and the single place where errors become messages.

May import: ``scripts.djl.properties`` (serving.properties as DJL reads it), ``scripts.paths`` and
``serving.longform.vad`` (where the VAD model is, to bundle it).
"""
