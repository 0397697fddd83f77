"""Ship whisper-lmi to Amazon SageMaker: package, upload, deploy, invoke, transform, delete, run locally.

One module per job; ``cli.py`` is the command line and the single place where errors become messages.
"""
