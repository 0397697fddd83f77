"""``Input`` / ``Output`` from DJL's ``djl_python`` when it is importable (inside the DJL
Serving container), else from our faithful stand-in ``serving.djl_standin``."""

try:
    from djl_python import Input, Output
except ImportError:
    from serving.djl_standin import Input, Output

__all__ = ["Input", "Output"]
