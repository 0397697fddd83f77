"""Issue 15's accuracy report: our transcripts of the evaluation set, the bundled clips and the long file, in the
variants measured (``ours``: serving options and request parameters, cached on disk per variant and per version of
the decoding code), scored against faster-whisper on the same weights and against the references (``report``: the
sections of ``docs/accuracy.md``). ``python -m scripts.evaluate_accuracy`` runs it. This ``__init__`` imports
nothing.

May import: ``serving`` (the scheduler ours runs on, the request parameters, the settings), ``scripts.conversion``
(the weights, the cache root), ``scripts.material`` (the clips) and ``scripts.scoring`` (WER, the reference decoder).
"""
