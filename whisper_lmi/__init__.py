"""whisper-lmi's deploy tooling and client: put the ``serving`` package behind an Amazon SageMaker endpoint with the
DJL Serving LMI container, and call it.

=============  ====================================================================================  =====================
package        holds                                                                                 may import
=============  ====================================================================================  =====================
``cli``        the ``whisper-lmi`` command line: arguments in, one API call, one line per error       sagemaker, artifact, errors
``sagemaker``  the typed API: upload, deploy, update, delete, status, Endpoint (invoke), logs, ...    artifact, errors
``artifact``   the DJL model directory: its template files, assembly and validation (no AWS)          errors
``errors``     ``WhisperLmiError``, the one error a user can fix                                      nothing
=============  ====================================================================================  =====================

``serving`` is shipped, never imported (it needs torch); nothing here imports ``scripts``, ``benchmarks`` or ``tests``
(``tests/test_layers.py`` checks this). Installed alone with ``pip install 'whisper-lmi[deploy]'`` (boto3).
"""
