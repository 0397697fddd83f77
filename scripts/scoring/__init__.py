"""Scoring transcripts against references: word error rate after Whisper's normaliser, faster-whisper on the same
weights as the reference decoder (its transcripts and its word timestamps), what a long-form transcript drops or
repeats, and the reports built on them.

``wer`` (normalise, WER), ``reference`` (faster-whisper on the converted CTranslate2 whisper-base), ``word_reference``
(faster-whisper's word timestamps, cached on disk, and how ours compare), ``longform_errors`` (seam errors, words
dropped or doubled), ``longform_baseline`` (faster-whisper's figures on the long file), ``clip_comparison`` (ours
against faster-whisper on the committed clips), ``accuracy`` (WER tables per subset of the evaluation set). This ``__init__`` imports nothing.

May import: ``scripts.conversion`` (the weights faster-whisper runs) and ``scripts.material`` (the clips, the long
file). Not ``serving``: scores are computed on what the model returned, not inside it.
"""
