"""Many requests' windows through one model: ``runner`` runs one batch of windows (log-mel, encoder, language
detection, decoding with temperature fallback, word alignment) and returns what happened; ``scheduler`` owns every
request's state, forms the batches (oldest request first), applies each batch's outcomes to the plans, and answers
each request. Sync and async mode both submit to the scheduler.

May import: ``longform``, ``engine``, ``api`` (a request's parameters), ``audio`` and the shared modules.
"""
