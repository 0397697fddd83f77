"""Stand-in for ``djl_python.outputs`` (see ``serving/djl_standin/__init__.py``).

Upstream: deepjavalibrary/djl-serving ``engines/python/setup/djl_python/outputs.py``,
read at commit d21927c4a692335fba62a87cc430a5fc00c5f790 (identical at tag v0.36.0).

Behaviour that matters and is easy to get wrong:

* ``Output(code=200, message='OK')``; every mutator returns ``self`` (chainable).
* ``get_property`` is a plain, case-SENSITIVE dict lookup (unlike ``Input.get_property``).
* ``add(value, key=None, batch_index=None)``: ``str`` -> ``value.encode()`` (bytes),
  ``bytes`` -> ``bytearray``, ``bytearray`` as is, anything else (including ``None``, ``dict``, numpy
  scalars/arrays, ``str`` subclasses) -> JSON via ``_encode_json``. A non-str key is
  logged and ``str()``-ed. With ``batch_index`` the key becomes ``f"batch_{i}.{key or ''}"``
  (index NOT zero-padded; the Java side parses it with ``batch_(\\d+)\\.(.*)``).
* ``_encode_json``: ``ensure_ascii=False, allow_nan=False, indent=2,
  separators=(",", ":")`` -> multi-line JSON with no space after ``:``; NaN raises.
* ``error(error, code=424, message="invoke handler failure")`` sets code/message, adds
  property ``content-type: application/json`` and APPENDS the JSON body
  ``{"code": code, "message": message, "error": error}`` (existing content is kept).
* ``add_stream_content(iterator, output_formatter=default)``: ``send`` calls
  ``next()`` on it (a generator/iterator, not a list), passes each item through
  ``output_formatter`` (default wraps it as ``{"outputs": item}`` JSON + ``"\\n"``;
  pass ``None`` for raw), then str -> UTF-8, bytes as is, other -> JSON. An exception
  while iterating ends the stream with ``str(e)`` as the final chunk.

Not carried over: the DJL NDList codec; ``add_as_numpy`` raises ``NotImplementedError``.
"""

import json
import logging
import struct

from .pair_list import PairList


class _JSONEncoder(json.JSONEncoder):
    """datetime -> str; numpy integer/floating/ndarray -> int/float/list."""

    def default(self, obj):
        import datetime
        if isinstance(obj, datetime.datetime):
            return obj.__str__()
        try:
            import numpy as np
            if isinstance(obj, np.integer):
                return int(obj)
            if isinstance(obj, np.floating):
                return float(obj)
            if isinstance(obj, np.ndarray):
                return obj.tolist()
        except ImportError:
            pass
        return super(_JSONEncoder, self).default(obj)


class Output(object):

    def __init__(self, code=200, message='OK'):
        self.code = code
        self.message = message
        self.properties = dict()
        self.content = PairList()
        self.stream_content = None
        self.finalize_function = None
        self.finalize_args = None
        self.stream_output_formatter = None

    def __str__(self):
        kinds = {
            self.content.key_at(i): "type: " + str(type(self.content.value_at(i)))
            for i in range(self.content.size())
        }
        return json.dumps(
            {
                "code": self.code,
                "message": self.message,
                "properties": self.properties,
                "content": kinds
            },
            indent=2)

    def set_code(self, code: int):
        self.code = code
        return self

    def set_message(self, message: str):
        self.message = message
        return self

    def error(self, error: str, code=424, message="invoke handler failure"):
        self.code = code
        self.message = message
        self.add_property("content-type", "application/json")
        self.add_as_json({"code": self.code, "message": self.message, "error": error})
        return self

    def add_property(self, key, val):
        self.properties[key] = val
        return self

    def get_properties(self):
        return self.properties

    def get_property(self, key):
        return self.properties.get(key)

    def add(self, value, key=None, batch_index=None):
        if key is not None and type(key) is not str:
            logging.warning(f"Output key should be str type, got {type(key)}")
            key = str(key)

        if batch_index is not None:
            key = f"batch_{batch_index}.{'' if key is None else key}"

        kind = type(value)
        if kind is str:
            payload = value.encode("utf-8")
        elif kind is bytearray:
            payload = value
        elif kind is bytes:
            payload = bytearray(value)
        else:
            payload = self._encode_json(value)
        self.content.add(key=key, value=payload)
        return self

    def add_as_numpy(self, np_list, key=None, batch_index=None):
        raise NotImplementedError(
            "djl_standin: the DJL NDList codec (tensor/ndlist) is not part of the stand-in")

    def add_as_npz(self, np_list, key=None, batch_index=None):
        import io

        import numpy as np
        buffer = io.BytesIO()
        np.savez(buffer, *np_list)
        return self.add(buffer.getvalue(), key=key, batch_index=batch_index)

    def add_as_json(self, val, key=None, batch_index=None):
        return self.add(self._encode_json(val), key=key, batch_index=batch_index)

    # Upstream defines this without ``self``/``@staticmethod`` and only uses it as the
    # default value of ``output_formatter`` below; keep it that way.
    def _default_stream_output_formatter(token_texts):
        line = json.dumps({"outputs": token_texts}) + "\n"
        return bytearray(line.encode("utf-8"))

    def add_stream_content(self,
                           stream_content,
                           output_formatter=_default_stream_output_formatter):
        self.stream_content = stream_content
        self.stream_output_formatter = output_formatter
        return self

    @staticmethod
    def _encode_json(val) -> bytes:
        text = json.dumps(val,
                          ensure_ascii=False,
                          allow_nan=False,
                          indent=2,
                          cls=_JSONEncoder,
                          separators=(",", ":"))
        return bytearray(text.encode("utf-8"))

    @staticmethod
    def binary_encode(data: dict) -> bytes:
        """``short n`` then n * (utf8 key, utf8 str(value)); used by rolling-batch/async."""
        msg = bytearray()
        msg += struct.pack('>h', len(data))
        for k, v in data.items():
            Output.write_utf8(msg, k)
            Output.write_utf8(msg, str(v))
        return msg

    @staticmethod
    def write_utf8(msg, val):
        if val is None:
            msg += struct.pack('>i', -1)
            return
        raw = val.encode('utf-8')
        msg += struct.pack('>i', len(raw))
        msg += raw

    def finalize(self, finalize_function, *args):
        self.finalize_function = finalize_function
        self.finalize_args = args
        return self

    def execute_finalize(self):
        if self.finalize_function:
            return self.finalize_function(*self.finalize_args)

    # ----- wire protocol (Python -> Java) -----------------------------------
    def send(self, cl_socket):
        """Encode as ``Connection.OutputDecoder`` reads it.

        ``short code; utf8 message; short n; n * (utf8 key, utf8 str(value));`` then
        either ``short m; m * (utf8 key, int len, bytes)`` or, for stream content,
        ``short -1`` followed by chunks ``byte more(1/0); int len; bytes``.
        """
        head = bytearray()
        head += struct.pack('>h', self.code)
        self.write_utf8(head, self.message)
        head += struct.pack('>h', len(self.properties))
        for k, v in self.properties.items():
            self.write_utf8(head, k)
            self.write_utf8(head, str(v))

        if self.stream_content is None:
            head += struct.pack('>h', self.content.size())
            for i in range(self.content.size()):
                value = self.content.value_at(i)
                self.write_utf8(head, self.content.key_at(i))
                head += struct.pack('>i', len(value))
                head += value
            cl_socket.sendall(head)
            return

        head += struct.pack('>h', -1)
        cl_socket.sendall(head)

        while True:
            try:
                item = next(self.stream_content)
                if self.stream_output_formatter is not None:
                    item = self.stream_output_formatter(item)
                kind = type(item)
                if kind is str:
                    item = item.encode('utf-8')
                elif kind is bytearray:
                    pass
                elif kind is bytes:
                    item = bytearray(item)
                else:
                    item = bytearray(self._encode_json(item))
                chunk = bytearray(b'\1')
                chunk += struct.pack('>i', len(item))
                chunk += item
                cl_socket.sendall(chunk)
            except StopIteration:
                cl_socket.sendall(bytearray(b'\0') + struct.pack('>i', 0))
                break
            except Exception as e:
                logging.exception("Failed read streaming content from output")
                text = str(e).encode('utf-8')
                cl_socket.sendall(
                    bytearray(b'\0') + struct.pack('>i', len(text)) + text)
                break
