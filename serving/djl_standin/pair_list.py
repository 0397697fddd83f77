"""Stand-in for ``djl_python.pair_list.PairList`` (see ``serving/djl_standin/__init__.py``).

Upstream: deepjavalibrary/djl-serving ``engines/python/setup/djl_python/pair_list.py``,
read at commit d21927c4a692335fba62a87cc430a5fc00c5f790 (identical at tag v0.36.0).

An ordered list of ``(key, value)`` pairs where keys may repeat and may be ``None``.
``keys`` and ``values`` are public list attributes upstream (``test_model.py`` reads
``content.values`` directly), so they are here too.

Upstream quirks kept on purpose, so code that works here also works in the container:

* ``PairList(pair_list=...)`` / ``PairList(pair_map=...)`` raise ``AttributeError``
  upstream (they append to ``self.keys`` before it exists). Same here.
* ``add_all(other)`` calls ``other.keys()`` / ``other.values()``: it accepts a ``dict``
  and fails with ``TypeError`` for another ``PairList``. Same here.
* ``add(key, None)`` is silently ignored.
"""


class PairList(object):

    def __init__(self, keys=None, values=None, pair_list=None, pair_map=None):
        if keys and values:
            if len(keys) != len(values):
                raise ValueError("key value size mismatch.")
            self.keys = keys
            self.values = values
        elif pair_list or pair_map:
            # Upstream iterates into self.keys before assigning it.
            raise AttributeError("'PairList' object has no attribute 'keys'")
        else:
            self.keys = []
            self.values = []

    def add(self, key=None, value=None, index=None, pair=None):
        if index is not None and value is not None:
            self.keys.insert(index, key)
            self.values.insert(index, value)
        elif pair:
            self.keys.append(pair[0])
            self.values.append(pair[1])
        elif value is not None:
            self.keys.append(key)
            self.values.append(value)
        # a None value with no pair is dropped, as upstream

    def add_all(self, other):
        if other:
            self.keys.extend(other.keys())
            self.values.extend(other.values())

    def size(self):
        return len(self.keys)

    def is_empty(self):
        return self.size() == 0

    def get(self, key):
        """Value of the first pair whose key equals ``key`` (exact match), else ``None``."""
        if key not in self.keys:
            return None
        return self.values[self.keys.index(key)]

    def key_at(self, index: int):
        return self.keys[index]

    def value_at(self, index: int):
        return self.values[index]

    def get_keys(self):
        return self.keys

    def get_values(self) -> list:
        return self.values
