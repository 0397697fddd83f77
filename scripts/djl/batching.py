"""DJL's dynamic batching as the Python engine sees it: ``PyPredictor.batchPredict`` merges N requests into one Input
with ``batch_NNN.``-prefixed properties and content."""

from __future__ import annotations

from typing import Sequence, Union

from scripts.djl.engine import EngineContext, to_python
from scripts.djl.java import JavaInput
from serving.djl_compat import Input


def _batch_prefix(i: int) -> str:
    # PyPredictor: "batch_" + zero padding to 3 digits for i < 100 ("max 999" TODO)
    if i > 99:
        return f"batch_{i}."
    if i > 9:
        return f"batch_0{i}."
    return f"batch_00{i}."


def batch_input(requests: Sequence[Union[Input, JavaInput]],
                ctx: Union[EngineContext, None] = None) -> Input:
    """What ``handle()`` gets when DJL's batch aggregator hands N requests to
    ``PyPredictor.batchPredict``.

    ``requests`` are Inputs made by :func:`request_input` / :func:`multipart_input`
    (their Java-side form is used, not the Python-side additions) or :class:`JavaInput`.
    For N == 1 the single request is sent unbatched (no ``batch_size`` property).
    Otherwise the outer Input has ``batch_size=N``, every item property as
    ``batch_NNN.<name>`` and every content entry as ``batch_NNN.<key>`` (null key ->
    ``data``), all sorted case-insensitively; ``handler``, ``cluster_size``,
    ``device_id`` and ``model_dir`` exist only on the outer Input.
    """
    javas = []
    for req in requests:
        if isinstance(req, JavaInput):
            javas.append(req)
            continue
        origin = getattr(req, "_djl_origin", None)
        if origin is None:
            raise TypeError("batch_input needs Inputs from request_input/multipart_input "
                            "or JavaInput objects")
        javas.append(origin[0])
        if ctx is None:
            ctx = origin[1]
    ctx = ctx or EngineContext()
    if not javas:
        raise ValueError("empty batch")
    if len(javas) == 1:  # PyPredictor: a batch of one is sent as a plain request
        return to_python(javas[0], ctx)

    batch = JavaInput()
    batch.add_property("batch_size", str(len(javas)))
    for i, item in enumerate(javas):
        prefix = _batch_prefix(i)
        for key, value in item.properties.items():
            batch.add_property(prefix + key, value)
        for key, value in item.content:
            batch.content.append((prefix + ("data" if key is None else key), value))
    return to_python(batch, ctx)
