"""The ``Input``/``Output`` we import (real ``djl_python`` when installed, else
``serving.djl_standin``) behave the way DJL Serving 0.36 does for what our handler
relies on. Run with the real package on PYTHONPATH, the same tests check that the
stand-in's expectations match upstream."""

import json
import struct

import pytest

from scripts.djl.batching import batch_input
from scripts.djl.errors import DjlHttpError, DjlWorkerError
from scripts.djl.http import form_request, http_request
from scripts.djl.model_load import initial_input
from scripts.djl.outputs import outputs_of
from scripts.djl.requests import multipart_input, request_input
from serving import djl_compat
from serving.djl_compat import Input, Output

try:
    import djl_python  # noqa: F401
    USING_REAL = True
except ImportError:
    USING_REAL = False


def test_compat_picks_real_package_or_standin():
    expected = "djl_python" if USING_REAL else "serving.djl_standin"
    assert Input.__module__.startswith(expected)
    assert Output.__module__.startswith(expected)
    assert djl_compat.__all__ == ["Input", "Output"]


def _input(properties=None, content=()):
    inp = Input()  # no constructor arguments upstream
    inp.properties = dict(properties or {})
    for key, value in content:
        inp.content.add(key=key, value=value)
    return inp


# ------------------------------------------------------------------------ Input
def test_get_property_is_case_insensitive_first_match_wins():
    inp = _input({"Content-Type": "audio/wav", "content-type": "x/y", "A": "1"})
    assert inp.get_property("content-type") == "audio/wav"
    assert inp.get_property("CONTENT-TYPE") == "audio/wav"
    assert inp.get_property("a") == "1"
    assert inp.get_property("missing") is None


def test_batch_size_lookup_is_exact_case():
    assert not _input({"Batch_Size": "2"}).is_batch()
    assert _input({"batch_size": "2"}).get_batch_size() == 2
    assert _input().get_batch_size() == 1


def test_empty_input_and_accessors():
    inp = _input({"device_id": "-1"})
    assert inp.is_empty()
    assert not inp.is_batch()
    assert inp.get_as_bytes() is None
    assert inp.get_data() is None
    assert inp.get_batches() == [inp]
    assert inp.get_function_name() is None


def test_get_as_bytes_prefers_data_then_first_and_raises_for_missing_key():
    inp = _input(content=[("lang", b"en"), ("data", b"RIFF")])
    assert inp.get_as_bytes() == b"RIFF"
    assert inp.get_as_bytes("lang") == b"en"
    assert inp.contains_key("lang") and not inp.contains_key("nope")
    with pytest.raises(KeyError):
        inp.get_as_bytes("nope")
    assert _input(content=[(None, b"x")]).get_as_bytes() == b"x"
    assert _input(content=[("data", b'{"a": 1}')]).get_as_json() == {"a": 1}
    assert _input(content=[("data", "é".encode())]).get_as_string() == "é"


def test_get_data_dispatches_on_content_type():
    body = [("data", b'{"k": [1]}')]
    assert _input({"Content-Type": "application/json; charset=utf-8"}, body).get_data() == {
        "k": [1]
    }
    assert _input({"content-type": "text/plain"}, body).get_data() == '{"k": [1]}'
    raw = _input({"Content-Type": "audio/wav"}, body).get_data()
    assert raw == b'{"k": [1]}'


def test_get_batches_splits_properties_and_content_per_item():
    inp = _input(
        {
            "batch_size": "2",
            "batch_000.Content-Type": "audio/wav",
            "batch_001.Content-Type": "audio/flac",
            "batch_001.language": "de",
            "device_id": "-1",
        },
        [("batch_000.data", b"A"), ("batch_001.data", b"B"), ("batch_001.extra", b"C")],
    )
    assert inp.is_batch() and inp.get_batch_size() == 2
    first, second = inp.get_batches()
    assert first.get_properties() == {"Content-Type": "audio/wav"}
    assert second.get_properties() == {"Content-Type": "audio/flac", "language": "de"}
    assert first.get_as_bytes() == b"A"
    assert second.get_as_bytes() == b"B" and second.get_as_bytes("extra") == b"C"
    assert second.get_property("content-type") == "audio/flac"
    assert first.get_function_name() is None


def test_wire_read_gives_bytearray_none_keys_and_function_name():
    def utf8(s):
        if s is None:
            return struct.pack(">i", -1)
        return struct.pack(">i", len(s.encode())) + s.encode()

    frame = struct.pack(">h", 2) + utf8("handler") + utf8("handle") + utf8("X") + utf8("1")
    frame += struct.pack(">h", 1) + utf8(None) + struct.pack(">i", 3) + b"abc"

    class Conn:
        def __init__(self, data):
            self.data = data

        def recv(self, n):
            chunk, self.data = self.data[:n], self.data[n:]
            return chunk

    inp = Input()
    inp.read(Conn(frame))
    assert inp.get_properties() == {"handler": "handle", "X": "1"}
    assert inp.get_function_name() == "handle"
    assert inp.get_content().get_keys() == [None]
    assert type(inp.get_as_bytes()) is bytearray


# ----------------------------------------------------------------------- Output
def test_output_defaults_and_chaining():
    out = Output()
    assert (out.code, out.message) == (200, "OK")
    assert out.set_code(201).set_message("Created").add_property("A", "1") is out
    assert out.get_property("A") == "1"
    assert out.get_property("a") is None  # Output.get_property is case-sensitive


def test_output_add_encodings():
    out = Output()
    out.add("é").add(b"\x00").add(bytearray(b"z")).add({"t": "ü"}).add(None)
    values = out.content.get_values()
    assert type(values[0]) is bytes  # str is stored as str.encode(), not bytearray
    assert all(type(v) is bytearray for v in values[1:])
    assert values[0] == "é".encode()
    assert values[3] == '{\n  "t":"ü"\n}'.encode()  # indent=2, no space after ":"
    assert values[4] == b"null"
    assert out.content.get_keys() == [None] * 5
    with pytest.raises(ValueError):
        Output().add_as_json({"x": float("nan")})


def test_output_batch_keys_are_unpadded():
    out = Output()
    for i, text in enumerate(["a", "b"]):
        out.add_as_json({"text": text}, batch_index=i)
    out.add("x", key="k", batch_index=11)
    assert out.content.get_keys() == ["batch_0.", "batch_1.", "batch_11.k"]


def test_output_error_shape():
    out = Output().error("boom")
    assert (out.code, out.message) == (424, "invoke handler failure")
    assert out.get_properties() == {"content-type": "application/json"}
    body = json.loads(bytes(out.content.value_at(0)))
    assert body == {"code": 424, "message": "invoke handler failure", "error": "boom"}
    custom = Output().error("bad audio", code=400, message="Bad Request")
    assert json.loads(bytes(custom.content.value_at(0)))["code"] == 400


# --------------------------------------------------- what DJL sends / returns
def test_initial_input_properties():
    inp = initial_input(
        {"engine": "Python", "option.entryPoint": "model.py", "option.model_id": "w",
         "option.env": "A=1"},
        batch_size=4,
        max_batch_delay=100,
        model_dir="/opt/ml/model",
        device_id="0",
    )
    assert inp.is_empty()
    assert inp.get_properties() == {
        "entryPoint": "model.py",
        "model_id": "w",
        "engine": "Python",
        "batch_size": "4",
        "max_batch_delay": "100",
        "batchifier": "stack",
        "handler": "handle",
        "cluster_size": 1,
        "device_id": "0",
        "model_dir": "/opt/ml/model",
    }
    assert inp.get_function_name() == "handle"
    assert inp.is_batch()  # gotcha: serving.properties batch_size reaches the load Input
    assert "batchifier" not in initial_input({"option.x": "1"}).get_properties()


def test_request_input_headers_custom_attributes_and_order():
    inp = request_input(
        b"RIFF....",
        {
            "Content-Type": "audio/wav",
            "X-Amzn-SageMaker-Custom-Attributes": " language=de ; task = translate;bad; k=a=b",
            "x-request-id": "rid-1",
        },
        model_dir="/m",
    )
    props = inp.get_properties()
    assert "X-Amzn-SageMaker-Custom-Attributes" not in props
    assert list(props) == [
        "Content-Type", "handler", "k", "language", "requestId", "task", "x-request-id",
        "cluster_size", "device_id", "model_dir",
    ]
    assert props["language"] == "de" and props["task"] == "translate"
    assert props["k"] == "a=b" and props["requestId"] == "rid-1"
    assert (props["device_id"], props["model_dir"]) == ("-1", "/m")
    assert inp.get_content().get_keys() == ["data"]
    assert inp.get_as_bytes() == b"RIFF...."
    assert not inp.is_batch() and not inp.is_empty()


def test_request_headers_fold_case_insensitively_and_handler_is_rejected():
    inp = request_input(b"", [("content-type", "a/b"), ("Content-Type", "c/d")])
    assert inp.get_properties()["content-type"] == "c/d"
    assert "Content-Type" not in inp.get_properties()
    assert not inp.is_empty()  # an empty body is still content "data"
    with pytest.raises(DjlHttpError) as err:
        http_request(b"", {"X-Amzn-SageMaker-Custom-Attributes": "Handler=x"})
    assert err.value.code == 400


def test_query_and_multipart_fields_become_content():
    inp = request_input(b"B", {}, query={"language": "fr"})
    assert inp.get_content().get_keys() == ["language", "data"]
    assert inp.get_as_bytes() == b"B"
    form = multipart_input({"file": b"\x00\x01", "language": "en"})
    assert form.get_content().get_keys() == ["file", "language"]
    assert form.get_as_bytes() == b"\x00\x01"  # no "data" -> first entry
    assert form.get_as_string("language") == "en"
    assert form.get_property("content-type").startswith("multipart/form-data; boundary=")


def test_batch_input_matches_pypredictor_and_get_batches_roundtrip():
    reqs = [
        request_input(b"A", {"Content-Type": "audio/wav", "x-request-id": "r0"}),
        form_request({"file": b"B", "language": "de"}, request_id="r1"),
    ]
    batch = batch_input(reqs)
    props = batch.get_properties()
    assert props["batch_size"] == "2" and batch.get_function_name() == "handle"
    assert "batch_000.Content-Type" in props and "batch_000.handler" not in props
    assert batch.get_content().get_keys() == [
        "batch_000.data", "batch_001.file", "batch_001.language"]
    one, two = batch.get_batches()
    assert one.get_properties() == {
        "Content-Type": "audio/wav", "requestId": "r0", "x-request-id": "r0"}
    assert one.get_as_bytes() == b"A"
    assert two.get_as_bytes() == b"B" and two.get_as_string("language") == "de"
    assert "model_dir" not in two.get_properties() and "model_dir" in props
    # a "batch" of one request is sent unbatched
    assert not batch_input(reqs[:1]).is_batch()


def test_batch_prefix_padding():
    reqs = [http_request(str(i).encode()) for i in range(101)]
    keys = batch_input(reqs).get_content().get_keys()
    assert keys[9] == "batch_009.data" and keys[10] == "batch_010.data"
    assert keys[100] == "batch_100.data"


def test_outputs_of_unbatched_success_and_error():
    out = Output().add_property("Content-Type", "application/json").add_as_json({"t": 1})
    (resp,) = outputs_of(out)
    code, props, body = resp
    assert (code, props, json.loads(body)) == (200, {"Content-Type": "application/json"},
                                               {"t": 1})
    (err,) = outputs_of(Output().error("boom"))
    assert err.code == 424 and err.message == "invoke handler failure"
    assert json.loads(err.body)["error"] == "boom"


def test_outputs_of_batch_shares_code_and_properties():
    batch = batch_input([http_request(b"a"), http_request(b"b")])
    out = Output().add_property("content-type", "application/json")
    for i in range(2):
        out.add_as_json({"i": i}, batch_index=i)
    first, second = outputs_of(out, batch)
    assert first.code == second.code == 200
    assert first.properties == second.properties == {"content-type": "application/json"}
    assert json.loads(first.body) == {"i": 0} and json.loads(second.body) == {"i": 1}


def test_outputs_of_batch_error_goes_to_every_request():
    responses = outputs_of(Output().error("bad"), 3)
    assert [r.code for r in responses] == [424] * 3
    assert len({r.body for r in responses}) == 1


def test_outputs_of_batch_size_mismatch_is_http_400():
    out = Output().add("only one", batch_index=0)
    with pytest.raises(DjlHttpError) as err:
        outputs_of(out, 2)
    assert err.value.code == 400
    with pytest.raises(DjlWorkerError):
        outputs_of(Output().add("a").add("b"), 2)  # null keys -> NPE in PyPredictor


def test_outputs_of_stream_content():

    def gen():
        yield "a"
        yield {"b": 1}

    (resp,) = outputs_of(Output().add_stream_content(gen(), output_formatter=None))
    assert resp.chunks == [b"a", b'{\n  "b":1\n}', b""]
    assert resp.body == b'a{\n  "b":1\n}'
    (dflt,) = outputs_of(Output().add_stream_content(iter(["x"])))
    assert dflt.body == b'{"outputs": "x"}\n'

    def broken():
        yield "ok"
        raise RuntimeError("decoder died")

    (bad,) = outputs_of(Output().add_stream_content(broken(), output_formatter=None))
    assert bad.code == 200 and bad.chunks == [b"ok", b"decoder died"]
