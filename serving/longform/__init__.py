"""Per-request plans: which windows of a request to decode next, and how their outcomes become segments.

``plans`` (the window and outcome types, the Plan protocol), ``sequential`` (openai/whisper's seek loop),
``chunked`` (windows merged word by word where they overlap), ``packing`` (where chunked windows lie: cut
at the VAD's pauses, overlapping where speech runs on), ``drafts``/``words``/``segmenting``/``timeline``
(a decoded window -> timed segments and words), ``quality`` (fallback and silence rules), ``vad`` (Silero through
onnxruntime: where the speech is).

May import: the shared modules and the engine's torch-free modules (``engine.decoded``, ``engine.vocabulary``,
``engine.token_text``). Nothing here imports torch, directly or through another module: plans are host work.
"""
