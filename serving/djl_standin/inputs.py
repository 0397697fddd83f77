"""Stand-in for ``djl_python.inputs`` (see ``serving/djl_standin/__init__.py``).

Upstream: deepjavalibrary/djl-serving ``engines/python/setup/djl_python/inputs.py``,
read at commit d21927c4a692335fba62a87cc430a5fc00c5f790 (identical at tag v0.36.0).

Behaviour that matters and is easy to get wrong:

* ``Input()`` takes no arguments. Tests (and upstream ``test_model.py``) assign
  ``inp.properties = {...}`` / ``inp.content = PairList(...)`` / ``inp.function_name``.
* ``get_property(key)`` is case-insensitive: first key in dict order whose ``.lower()``
  matches. ``is_batch()`` / ``get_batch_size()`` look up the exact key ``"batch_size"``.
* Content read from the DJL socket holds ``bytearray`` values (not ``bytes``); a key may be
  ``None`` when the Java side had a null key.
* ``get_batches()`` parses every property named ``batch_*`` (except ``batch_size``) and
  *every* content key as ``batch_NNN<sep><key>`` with ``index = key[6:9]`` and
  ``name = key[10:]``. Items get only their own properties (no ``model_dir``,
  ``device_id``, ``handler`` ...: those stay on the outer Input).
* ``get_as_bytes()`` with no key returns content ``"data"`` if present, else the first
  entry; ``None`` when there is no content; a missing explicit key raises ``KeyError``.

Not carried over: the DJL NDList codec (``np_util``); ``get_as_numpy`` raises
``NotImplementedError`` here. ``get_as_image`` needs Pillow, as upstream.
"""

import io
import json
import struct
from typing import List

from .pair_list import PairList


def retrieve_buffer(conn, length):
    """Read exactly ``length`` bytes from a socket-like ``conn`` (``recv``)."""
    data = bytearray()
    while length > 0:
        pkt = conn.recv(length)
        if len(pkt) == 0:
            raise ValueError("Connection disconnected")
        data += pkt
        length -= len(pkt)
    return data


def retrieve_int(conn):
    return struct.unpack(">i", retrieve_buffer(conn, 4))[0]


def retrieve_short(conn):
    return struct.unpack(">h", retrieve_buffer(conn, 2))[0]


def retrieve_utf8(conn):
    length = retrieve_int(conn)
    if length < 0:
        return None
    return retrieve_buffer(conn, length).decode("utf8")


class Input(object):

    def __init__(self):
        self.function_name = None
        self.properties = dict()
        self.content = PairList()

    def __str__(self):
        text = "properties: " + str(self.get_properties())
        for key in self.get_content().get_keys():
            text += "\n{}: {}".format(key, self.get_data(key))
        return text

    # ----- dynamic batching -------------------------------------------------
    def is_batch(self) -> bool:
        return "batch_size" in self.properties

    def get_batch_size(self) -> int:
        return int(self.properties.get("batch_size", "1"))

    def get_batches(self) -> List["Input"]:
        if not self.is_batch():
            return [self]

        items = [Input() for _ in range(self.get_batch_size())]

        for name, value in self.properties.items():
            # "batch_003.Content-Type" -> item 3, "Content-Type"
            if name.startswith("batch_") and name != "batch_size":
                items[int(name[6:9])].properties[name[10:]] = value

        for i in range(self.content.size()):
            name = self.content.key_at(i)
            items[int(name[6:9])].content.add(name[10:], self.content.value_at(i))

        return items

    # ----- accessors --------------------------------------------------------
    def get_function_name(self) -> str:
        return self.function_name

    def get_properties(self) -> dict:
        return self.properties

    def get_content(self) -> PairList:
        return self.content

    def get_property(self, key: str) -> str:
        """Case-insensitive lookup; the first matching key in dict order wins."""
        wanted = key.lower()
        for name, value in self.properties.items():
            if name.lower() == wanted:
                return value
        return None

    def contains_key(self, key) -> bool:
        return self.content.get(key) is not None

    def get_data(self, key=None):
        """Decode by the ``content-type`` property (looked up case-insensitively)."""
        content_type = self.get_property("content-type")
        if content_type == "tensor/ndlist":
            return self.get_as_numpy(key)
        if content_type == "tensor/npz":
            return self.get_as_npz(key)
        if content_type is not None:
            if content_type.startswith("application/json"):
                return self.get_as_json(key)
            if content_type.startswith("text/"):
                return self.get_as_string(key)
            if content_type.startswith("image/"):
                return self.get_as_image(key)
        if self.content.is_empty():
            return None
        return self.get_as_bytes(key=key)

    def get_as_bytes(self, key=None):
        if self.content.is_empty():
            return None
        if key:
            value = self.content.get(key)
            if value is None:
                raise KeyError(
                    "requested data for key:{} is not found!".format(key))
            return value
        value = self.content.get("data")
        if value is None:
            value = self.content.value_at(0)
        return value

    def get_as_string(self, key=None) -> str:
        return self.get_as_bytes(key=key).decode("utf-8")

    def get_as_json(self, key=None):
        return json.loads(self.get_as_bytes(key=key).decode("utf-8"))

    def get_as_image(self, key=None):
        from PIL import Image
        return Image.open(io.BytesIO(self.get_as_bytes(key=key)))

    def get_as_numpy(self, key=None) -> list:
        raise NotImplementedError(
            "djl_standin: the DJL NDList codec (tensor/ndlist) is not part of the stand-in")

    def get_as_npz(self, key=None) -> list:
        import numpy
        archive = numpy.load(io.BytesIO(self.get_as_bytes(key=key)))
        return [archive[name] for name in archive.files]

    def get_as_csv(self, key=None) -> list:
        import csv
        return list(csv.DictReader(io.StringIO(self.get_as_string(key=key))))

    def is_empty(self):
        return self.content.is_empty()

    # ----- wire protocol (Java -> Python) -----------------------------------
    def read(self, conn):
        """Decode one request as ``Connection.RequestEncoder`` writes it.

        ``short n; n * (utf8 key, utf8 value); short m; m * (utf8 key, int len, bytes)``
        where ``utf8`` is ``int len`` (-1 = null) + UTF-8 bytes, all big-endian.
        """
        for _ in range(retrieve_short(conn)):
            name = retrieve_utf8(conn)
            self.properties[name] = retrieve_utf8(conn)

        for _ in range(retrieve_short(conn)):
            name = retrieve_utf8(conn)
            size = retrieve_int(conn)
            self.content.add(key=name, value=retrieve_buffer(conn, size))

        self.function_name = self.properties.get('handler')
