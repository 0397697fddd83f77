"""Test material, committed or made on demand: the speech clips and their reference texts, the long-form corpus and
the long file of known text built from it, non-speech samples, and the tools that make the clips.

``data`` (where the committed files are), ``clips`` (the clips of ``tests/data/audio/`` and their reference texts),
``speech_clips`` (what ``python -m scripts.make_speech`` speaks: sentence, voice, codec), ``speech`` (text-to-speech
into files), ``speech_check`` (faster-whisper over a set of clips), ``longform_corpus`` (the long-form sentences and
voices), ``longform_audio`` (them joined into one file whose 30 s window edges fall inside sentences), ``nonspeech``
(silence, noise, a tone, speech inside silence), ``eval_corpus`` (issue 15's English evaluation set: sentences, voices,
speeds), ``eval_speech`` (that set spoken into a cache folder on first use), ``audio_files`` (PyAV: a file -> an array, an array -> wav/flac
bytes). This ``__init__`` imports nothing.

May import: ``scripts.paths`` and ``serving.constants`` (the sample rate and window length). Nothing else of
``scripts`` or ``serving``.
"""
