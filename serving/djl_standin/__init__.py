"""Minimal, behaviour-faithful stand-in for the parts of ``djl_python`` we use.

The real package only exists inside the DJL Serving / LMI container (it is shipped in the
DJL Python engine jar, not on PyPI). Import through ``serving.djl_compat``, which prefers
the real ``djl_python`` and falls back to this package.

Upstream read (deepjavalibrary/djl-serving, ``master`` at
d21927c4a692335fba62a87cc430a5fc00c5f790, 2026-06-24 = tag v0.36.0 + 24 commits; the
files below are byte-identical at tag v0.36.0 / 1e53e50dcbf307c765cf7cc0bb97d23d7c02fb76,
``djl_python.__version__ == "0.36.0"``):

* ``engines/python/setup/djl_python/inputs.py``      -> ``inputs.py``
* ``engines/python/setup/djl_python/outputs.py``     -> ``outputs.py``
* ``engines/python/setup/djl_python/pair_list.py``   -> ``pair_list.py``
* ``engines/python/setup/djl_python/test_model.py``, ``python_sync_engine.py``,
  ``python_async_engine.py``, ``service_loader.py`` (how Inputs are built/used)

Same class names, method names, signatures, defaults, return types and quirks as
upstream; the code is written independently. Deliberately left out: the DJL NDList
tensor codec (``np_util``; ``Input.get_as_numpy`` / ``Output.add_as_numpy`` raise
``NotImplementedError``), the session manager, and everything in ``djl_python`` that is
not ``Input`` / ``Output`` / ``PairList``.

Public API::

    Input()                                   # no constructor arguments
        .function_name / .properties (dict) / .content (PairList)   # public attributes
        is_batch() get_batch_size() get_batches() get_function_name()
        get_properties() get_content() get_property(key)  # case-insensitive
        contains_key(key) get_data(key=None) get_as_bytes(key=None)
        get_as_string(key=None) get_as_json(key=None) get_as_image(key=None)
        get_as_npz(key=None) get_as_csv(key=None) get_as_numpy(key=None)*
        is_empty() read(conn)
    Output(code=200, message='OK')
        .code .message .properties .content .stream_content .stream_output_formatter
        .finalize_function .finalize_args
        set_code(code) set_message(message) error(error, code=424,
        message="invoke handler failure") add_property(key, val) get_properties()
        get_property(key)  # case-sensitive
        add(value, key=None, batch_index=None) add_as_json(val, key=None, batch_index=None)
        add_as_npz(np_list, key=None, batch_index=None) add_as_numpy(...)*
        add_stream_content(stream_content, output_formatter=<default>)
        finalize(fn, *args) execute_finalize() send(cl_socket)
        Output.binary_encode(dict) Output.write_utf8(msg, val) Output._encode_json(val)
    PairList(keys=None, values=None, pair_list=None, pair_map=None)
        .keys .values add(key=None, value=None, index=None, pair=None) add_all(mapping)
        size() is_empty() get(key) key_at(i) value_at(i) get_keys() get_values()

    (* raise NotImplementedError in the stand-in)
"""

from .inputs import Input
from .outputs import Output
from .pair_list import PairList

__all__ = ["Input", "Output", "PairList"]
