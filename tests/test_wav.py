"""The WAV fast path: strict header reading, every sample format equal to FFmpeg's decoding, fallbacks to PyAV."""

import io
import struct

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serving.audio.av_decoding import decode_with_av
from serving.audio.decode import AudioLimits, decode_audio
from serving.audio.wav import FORMAT_EXTENSIBLE, FORMAT_IEEE_FLOAT, FORMAT_PCM, GUID_TAIL, SAMPLE_TYPES, parse_wav
from serving.constants import SAMPLE_RATE
from serving.errors import AudioTooLong

GENEROUS = AudioLimits(max_bytes=10**8, max_seconds=600)
CODECS = ["pcm_u8", "pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_f64le"]


def tone(samples: int = SAMPLE_RATE, amplitude: float = 0.5, hz: float = 440.0) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * hz * np.arange(samples) / SAMPLE_RATE)).astype(np.float32)


def ffmpeg_wav(codec: str, audio: np.ndarray, layout: str = "mono") -> bytes:
    """A WAV written by FFmpeg's muxer (WAVE_FORMAT_EXTENSIBLE for more than 16 bits) from (channels, samples)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="wav") as out:
        stream = out.add_stream(codec, rate=SAMPLE_RATE, layout=layout)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio, dtype=np.float32), format="fltp", layout=layout)
        frame.sample_rate = SAMPLE_RATE
        resampler = av.AudioResampler(format=stream.codec_context.format, layout=layout, rate=SAMPLE_RATE)
        for converted in [*resampler.resample(frame), *resampler.resample(None)]:
            out.mux(stream.encode(converted))
        out.mux(stream.encode(None))
    return buffer.getvalue()


def ffmpeg_float_samples(data: bytes) -> np.ndarray:
    """What FFmpeg makes of a mono file as float samples at its own rate (no mixing, no resampling)."""
    with av.open(io.BytesIO(data)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=container.streams.audio[0].sample_rate)
        frames = [f for frame in container.decode(audio=0) for f in resampler.resample(frame)]
        frames += resampler.resample(None)
    return np.concatenate([f.to_ndarray().reshape(-1) for f in frames])


def riff(*chunks: bytes) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def chunk(name: bytes, body: bytes) -> bytes:
    return name + struct.pack("<I", len(body)) + body + b"\0" * (len(body) & 1)


def fmt(tag: int = FORMAT_PCM, channels: int = 1, rate: int = SAMPLE_RATE, bits: int = 16, **override) -> bytes:
    block = channels * bits // 8
    fields = {"byte_rate": rate * block, "block_align": block} | override
    return chunk(b"fmt ", struct.pack("<HHIIHH", tag, channels, rate, fields["byte_rate"], fields["block_align"], bits))


def extensible_fmt(sub_tag: int, bits: int, valid_bits: int | None = None, channels: int = 1,
                   rate: int = SAMPLE_RATE, mask: int = 4) -> bytes:
    block = channels * bits // 8
    base = struct.pack("<HHIIHH", FORMAT_EXTENSIBLE, channels, rate, rate * block, block, bits)
    guid = struct.pack("<H", sub_tag) + GUID_TAIL
    return chunk(b"fmt ", base + struct.pack("<HHI16s", 22, valid_bits or bits, mask, guid))


@pytest.mark.parametrize("codec", CODECS)
def test_every_sample_format_is_read_directly_and_equals_ffmpeg(codec):
    data = ffmpeg_wav(codec, tone()[None])
    assert parse_wav(data) is not None
    np.testing.assert_array_equal(decode_audio(data, GENEROUS), ffmpeg_float_samples(data))


def test_extensible_files_are_read_directly():
    data = ffmpeg_wav("pcm_s24le", tone()[None])
    assert struct.unpack_from("<H", data, 20)[0] == FORMAT_EXTENSIBLE  # FFmpeg's muxer: extensible above 16 bits
    assert parse_wav(data).format.tag == FORMAT_PCM and parse_wav(data).format.bits == 24


def test_hand_made_extensible_float_is_read():
    samples = tone(1000)
    data = riff(extensible_fmt(FORMAT_IEEE_FLOAT, 32), chunk(b"data", samples.astype("<f4").tobytes()))
    np.testing.assert_array_equal(decode_audio(data, GENEROUS), samples)


def test_stereo_is_mixed_down_by_the_mean_of_the_channels():
    left, right = np.full(SAMPLE_RATE, 0.5, np.float32), np.full(SAMPLE_RATE, 0.25, np.float32)
    data = ffmpeg_wav("pcm_s16le", np.stack([left, right]), layout="stereo")
    assert parse_wav(data).format.channels == 2
    np.testing.assert_allclose(decode_audio(data, GENEROUS), 0.375, atol=1e-4)


def test_odd_chunks_are_padded_and_other_chunks_skipped():
    samples = np.array([0, 64, 128, 192, 255], dtype=np.uint8)  # 8-bit PCM: an odd data size, then a pad byte
    data = riff(chunk(b"LIST", b"INFOx"), fmt(bits=8), chunk(b"data", samples.tobytes()), chunk(b"junk", b"abc"))
    np.testing.assert_array_equal(decode_audio(data, GENEROUS), (samples.astype(np.float32) - 128) / 128)


def test_a_declared_duration_over_the_limit_is_refused_before_conversion():
    data = riff(fmt(), chunk(b"data", bytes(2 * 3 * SAMPLE_RATE)))
    with pytest.raises(AudioTooLong, match=r"audio declares 3\.0 s; the limit is 2 s"):
        decode_audio(data, AudioLimits(max_bytes=10**8, max_seconds=2))


@pytest.mark.parametrize(
    "data",
    [
        riff(fmt(), chunk(b"data", bytes(100)))[:-2],  # RIFF size larger than the file
        riff(fmt(), chunk(b"data", bytes(100))) + b"trailing",  # bytes after the RIFF chunk
        riff(chunk(b"data", bytes(100)), fmt()),  # data before fmt
        riff(fmt(), chunk(b"data", bytes(100)), chunk(b"data", bytes(100))),  # two data chunks
        riff(fmt(), chunk(b"data", bytes(101))),  # a partial sample
        riff(fmt(byte_rate=1234), chunk(b"data", bytes(100))),  # byte rate disagrees
        riff(fmt(block_align=4), chunk(b"data", bytes(100))),  # block alignment disagrees
        riff(fmt(bits=12), chunk(b"data", bytes(100))),  # no such PCM container size
        riff(fmt(tag=0x11, bits=4, block_align=256, byte_rate=4055), chunk(b"data", bytes(256))),  # IMA ADPCM
        riff(extensible_fmt(FORMAT_PCM, 24, valid_bits=20), chunk(b"data", bytes(300))),  # fewer valid bits
        riff(fmt(rate=0, byte_rate=0), chunk(b"data", bytes(100))),
        riff(fmt(channels=0, block_align=0), chunk(b"data", bytes(100))),
        b"RIFX" + riff(fmt(), chunk(b"data", bytes(100)))[4:],  # big-endian RIFF
        riff(*[chunk(b"junk", b"")] * 40, fmt(), chunk(b"data", bytes(100))),  # more chunks than MAX_CHUNKS
    ],
    ids=["riff-size", "trailing", "data-first", "two-data", "partial-sample", "byte-rate", "block-align", "12-bit",
         "adpcm", "valid-bits", "rate-0", "channels-0", "rifx", "many-chunks"],
)
def test_anything_unusual_is_left_to_ffmpeg(data):
    assert parse_wav(data) is None


def test_a_file_left_to_ffmpeg_still_decodes():
    samples = tone(1000)
    data = riff(fmt(), chunk(b"data", (samples * 32767).astype("<i2").tobytes()))
    data = data[:4] + struct.pack("<I", 0xFFFF_FFFF) + data[8:]  # a streaming writer's "unknown" RIFF size
    assert parse_wav(data) is None
    np.testing.assert_allclose(decode_audio(data, GENEROUS), samples, atol=1e-4)


@st.composite
def plain_wavs(draw) -> bytes:
    """Any file the fast path reads: every sample type, plain or extensible, 1-3 channels, odd rates and sizes,
    other chunks (odd sizes included) before, between and after (not LIST: FFmpeg refuses a file whose LIST chunk
    is not what it expects; the fast path skips it)."""
    tag, bits = draw(st.sampled_from(sorted(SAMPLE_TYPES)))
    channels = draw(st.integers(1, 3))
    rate = draw(st.sampled_from([8_000, 11_025, 16_000, 22_050, 44_100, 48_000, 96_000, 12_345]))
    frames = draw(st.integers(16, 3000))  # >= 1 output sample; FFmpeg reads on past an empty data chunk
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if tag == FORMAT_IEEE_FLOAT:  # finite samples within full scale (NaN and infinity are tested on their own)
        dtype = SAMPLE_TYPES[tag, bits]
        body = rng.uniform(-1, 1, frames * channels).astype(dtype).tobytes()
    else:
        body = rng.integers(0, 256, frames * channels * bits // 8, dtype=np.uint8).tobytes()
    if draw(st.booleans()):
        header = extensible_fmt(tag, bits, channels=channels, rate=rate, mask=0)
    else:
        header = fmt(tag, channels, rate, bits)
    others = st.lists(st.builds(chunk, st.sampled_from([b"junk", b"abcd"]), st.binary(max_size=9)),
                      max_size=2)
    return riff(*draw(others), header, *draw(others), chunk(b"data", body), *draw(others))


@settings(max_examples=120, deadline=None, derandomize=True, database=None)
@given(plain_wavs())
def test_the_fast_path_gives_exactly_what_ffmpeg_decodes(data):
    assert parse_wav(data) is not None
    np.testing.assert_array_equal(decode_audio(data, GENEROUS), decode_with_av(data, 600))
