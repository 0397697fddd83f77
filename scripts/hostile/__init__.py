"""Hostile input for ``tests/test_fuzz.py`` and ``python -m benchmarks.fuzz``, and the properties it must keep.

Inputs: truncated, bit-flipped and spliced versions of every codec clip; random bytes under every content type;
huge header sets (thousands of headers, 1 MB values); deeply nested and enormous JSON; base64 junk; forms with odd
fields; ``audio_url`` junk; decode bombs (files that declare or hold hours of audio in a few KB).

Large inputs are built from a few drawn numbers (a seed, a size), so hypothesis stays within its buffer.

Properties (``*_outcome`` return an outcome label such as ``"ok"`` or ``"415 unsupported_media_type"``, or one
starting with ``FAIL`` when a property is broken): nothing but a RequestError escapes the decoder or the parser;
the service answers every request with its own response, never a 5xx, and every error body names the problem.

``audio`` (damaged codec clips, random bytes), ``requests`` (hostile requests of every kind), ``bombs`` (decode bombs),
``outcomes`` (the properties, as outcome labels), ``boundary`` (the service with a stand-in model that checks its
input), ``mix`` (seeded hostile requests for the load test's ``--hostile N``). This ``__init__`` imports nothing.

May import: ``scripts.material`` (the codec clips) and ``serving`` (the parser, the decoder, the service).
"""
