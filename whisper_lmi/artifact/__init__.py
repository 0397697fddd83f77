"""The model artifact: a DJL model directory of ``serving.properties``, ``requirements.txt``, the ``serving`` package
(without its development stand-ins) and the Silero VAD model, assembled from the template files shipped in this
package (``template/``) and the installed ``serving`` package, then validated. No AWS here.

Modules: ``layout`` (file names and where the sources are), ``properties`` (serving.properties read and written the
way DJL reads it), ``requirements`` (names in requirements.txt), ``validate``, ``assemble`` (``package``).

May import: ``whisper_lmi.errors``.
"""
