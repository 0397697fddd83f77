"""Audio bytes -> 16 kHz mono float32: plain WAV read with numpy, other containers decoded with PyAV, mixed down
and resampled once with soxr; limits on size and duration checked before the whole file is decoded. ``pool``: the
worker processes that decode compressed audio off the serving process's GIL (``option.decode_workers``).

May import: the shared modules only. Never torch.
"""
