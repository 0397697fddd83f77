"""The service DJL's two modes call: one request from raw bytes to a rendered response (parse, fetch, decode, then
the scheduler, then render), errors mapped to statuses at one boundary, one log line per request.

May import: every layer below (``batching``, ``longform``, ``engine``, ``api``, ``audio``, ``fetch``) and the shared
modules. Never DJL (``serving.model`` adapts DJL's Input/Output to this).
"""
