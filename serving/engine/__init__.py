"""The model and everything that touches it: loading and placement (one GPU, or Accelerate over several), the
log-mel front end, the encoder, the decoder runtime (static caches, CUDA graphs), token search (greedy and sampled:
``token_search``; beams: ``beam_search``; the running batch that windows join and leave between steps:
``running_batch``) with Whisper's logit rules, language detection, and word alignment (DTW
over the alignment heads).

Torch-free modules here, importable by planning code: ``decoded`` (what a decoded window is), ``vocabulary``
(special tokens and initial prompts), ``token_text`` (tokens -> text and words), ``degeneration`` (loops and
compressible text caught while decoding; each window's token cap). This ``__init__`` imports nothing.

May import: the shared modules only.
"""
