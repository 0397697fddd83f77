"""DJL Serving's Java side, emulated: ``Input`` objects built exactly as DJL Serving hands them to the Python engine,
and ``Output`` objects split back into HTTP responses the way the Java side does. The tests, the local server
(``scripts.server``) and the evaluation drive ``serving/model.py`` through this.

This is NOT ``djl_python.test_model`` (which merges serving.properties into every request and uses
``batch_000_data`` keys); it follows the real server path, read in deepjavalibrary/djl-serving at
d21927c4a692335fba62a87cc430a5fc00c5f790 (= v0.36.0 + 24 commits; unchanged since v0.36.0) and
deepjavalibrary/djl ``api/.../modality/Input.java``:

Request path (HTTP -> handle):
  ``serving/.../http/RequestParser.java``   query params -> content; headers -> properties;    ``http``
                                            custom attributes split; body -> content "data";
                                            forms -> one content entry per field
  ``serving/.../http/InferenceRequestHandler.java`` adds property ``requestId``           ``http``
  ``engines/python/.../PyPredictor.java``   dynamic batch -> ``batch_NNN.<key>``            ``batching``
  ``engines/python/.../PyProcess.java``     adds ``handler`` (default "handle")             ``engine``
  ``engines/python/.../Connection.java``    wire encoding (``RequestEncoder``)             ``wire``
  ``djl_python/python_sync_engine.py``      adds ``cluster_size``/tp/pp, ``device_id``      ``engine``
  ``djl_python/service_loader.py``          adds ``model_dir`` right before ``handle``     ``engine``

Everything goes through the real wire format: Java-side data is encoded like ``Connection.RequestEncoder`` and
decoded with ``Input().read()`` (so content values are ``bytearray`` and a null key arrives as ``None``), and
``outputs.outputs_of`` runs ``Output.send()`` and decodes like ``Connection.OutputDecoder`` then ``PyPredictor``. It
therefore works the same with the real ``djl_python`` and with ``serving.djl_standin``.

Modules: ``java`` (Java's case-insensitive properties, the Java-side Input), ``wire`` (the socket format both ways),
``errors``, ``engine`` (the hand-over to the Python engine), ``model_load`` (the Input sent at model load),
``http`` (an HTTP request -> a Java Input), ``requests`` (one unbatched request as ``handle()`` gets it),
``batching`` (N requests as one batched Input), ``outputs`` (an Output -> per-request responses), ``async_replies``
(async mode: tracking ids, Outputs applied to a streamed response), ``properties`` (serving.properties as DJL reads
it). This ``__init__`` imports nothing.

May import: ``serving.djl_compat`` (``Input``/``Output``), ``scripts.paths`` and ``whisper_lmi.artifact`` (the
serving.properties file and its reader). Nothing else of ``serving``, ``scripts`` or ``whisper_lmi``.
"""
