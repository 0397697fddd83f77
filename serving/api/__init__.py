"""The wire format, free of the model: a raw request (properties, body, form fields) parsed into typed parameters
and an audio location; a transcription rendered as json, text, verbose_json, srt or vtt; server-sent events.

May import: ``serving.fetch.audio_url`` (what an ``audio_url`` may name) and the shared modules. Never torch.
"""
