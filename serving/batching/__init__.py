"""Many requests' windows through one model: ``runner`` runs one batch of windows (log-mel, encoder, language
detection, one decoding per window, word alignment), or lets windows join the decoder's running batch and runs some
of its steps, and returns what happened, a window that failed the quality tests as a retry at its next temperature;
``scheduler`` owns every request's state, takes turns between decoding steps (windows join and leave the running
batch; oldest request first), applies each batch's outcomes to the plans, queues the retries, and answers each request, at its deadline if
it runs over its budget (``deadlines``); it also cancels requests and drains on close. Sync and async mode both
submit to the scheduler.

May import: ``longform``, ``engine``, ``api`` (a request's parameters), ``audio`` and the shared modules.
"""
