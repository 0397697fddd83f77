"""A local, DJL-compatible HTTP server around ``serving/model.py`` (development tool; production is DJL Serving).

``config`` (options), ``engine`` (loading and calling ``handle`` as DJL's Python engines do), ``batching`` (DJL's
dynamic batching in sync mode), ``async_mode`` (DJL's async mode: one awaited handler call per request, streamed
responses), ``djl_http`` (HTTP <-> DJL Input/Output), ``app`` (the Starlette routes and lifecycle).
The HTTP edge: ``edge`` (ASGI middleware: Expect, the body deadline, clients that leave, logged in one line),
``edge_protocol`` (uvicorn's h11 protocol with a deadline for request heads), ``disconnect`` (dropping the work
of a client that left).
API stand-ins in front of the container: ``runtime_api`` (SageMaker Runtime: InvokeEndpoint, ...WithResponseStream,
...Async), with ``runtime_errors`` (its error shapes), ``eventstream`` (AWS event-stream framing) and
``async_invocations`` (S3 in, S3 out); ``openai_api`` (OpenAI's ``/v1/audio/transcriptions`` and
``translations``) with ``openai_errors``; ``container`` (calling the app's own ``/invocations`` from a stand-in).
Start it with ``python -m scripts.serve``.

May import: ``scripts.djl`` (requests and responses as DJL builds them), ``scripts.paths`` and
``serving.djl_compat`` (``Input``/``Output``); ``boto3`` (async invocations' S3); ``uvicorn`` (``edge_protocol``).
``serving/model.py`` is loaded from its file, as DJL loads it.
"""
