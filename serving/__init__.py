"""whisper-lmi's inference core: what runs inside the DJL Serving (LMI) container, and on a laptop.

One package per layer; a layer imports only the layers below it (``tests/test_layers.py`` checks this):

=============  ======================================================================================  ==================
layer          holds                                                                                   may import
=============  ======================================================================================  ==================
``model``      DJL's entry point (``handle``, ``handle_async``) and ``djl_compat``: the only DJL import  endpoint, api, shared
``endpoint``   the service both DJL modes call: one request from raw bytes to response, its log line    everything below
``batching``   the runner (one batch of windows through the model) and the scheduler (owns all state)   longform, engine, api, audio, shared
``longform``   per-request plans: windows to decode, their outcomes merged into segments; VAD          engine's torch-free modules, shared
``api``        the wire: request parsing, parameters, response formats, server-sent events             fetch.audio_url, shared
``engine``     the model: loading, placement, log-mel, encoder, decoder runtime, search, alignment       shared
``audio``      bytes -> 16 kHz mono float32 (WAV with numpy, the rest with PyAV; soxr)                 shared
``fetch``      ``audio_url`` input: URL parsing, S3 and https fetchers, address checks, limits         shared
shared         ``constants``, ``errors``, ``identity``, ``results``, ``languages``, ``settings``, ``timing``  each other only
=============  ======================================================================================  ==================

Nothing here imports ``scripts``, ``benchmarks`` or ``tests``; ``longform`` imports nothing that imports torch.
"""
