"""Speak the clips of ``scripts.material.speech_clips`` into files, offline: ``generate(clip_set)`` writes a set's
audio files and its references file.

Everything is produced locally with text-to-speech engines, so no recording or download is
needed and the clips carry no licence baggage:

* ``flite`` (voices slt, rms, awb, kal16) and ``espeak-ng`` speak the sentences;
* ``sox`` normalises, resamples, remixes and writes wav (PCM16), flac and mp3;
* PyAV (``av``, with its bundled ffmpeg) writes what sox cannot: Opus in Ogg, Opus in WebM and
  AAC in MP4 (.m4a).

The output is deterministic for a given set of tool versions: the engines are deterministic,
sox runs with dither off (``-D``) and its repeatable random seed (``-R``), and the ffmpeg muxers
and encoders run with ``bitexact`` so no random stream serials, segment UIDs or version strings
end up in the files. Re-running it rewrites the same files (idempotent).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

from scripts.material.speech_clips import STANDARD, Clip, ClipSet
from scripts.paths import PROJECT_ROOT

ESPEAK_SPEED = 150  # words per minute; espeak-ng's default (175) is hard to follow
PEAK_DB = -3.0  # every clip is normalised to this peak level
SILENCE_DB = -50.0  # the engines' own leading/trailing silence (below this level) is trimmed ...
PAD_SECONDS = (0.2, 0.2)  # ... and replaced by this much before/after the speech

# Encoder settings for the lossy codecs (bit rates in bits/s).
MP3_KBPS = 64
OPUS_BITRATE = 32_000
AAC_BITRATE = 48_000


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def _require(tool: str) -> None:
    if shutil.which(tool) is None:
        sys.exit(f"{tool} not found; install it with: apt-get install -y espeak-ng flite sox libsox-fmt-all")


def _synthesise(clip: Clip, out: Path) -> None:
    """Speak clip.text into a wav at the engine's native rate."""
    if clip.engine == "flite":
        _run(["flite", "-voice", clip.voice, "-t", clip.text, "-o", str(out)])
    elif clip.engine == "espeak-ng":
        _run(["espeak-ng", "-v", clip.voice, "-s", str(ESPEAK_SPEED), "-w", str(out), "--", clip.text])
    else:
        raise ValueError(f"unknown engine {clip.engine!r}")


def _master(raw: Path, out: Path, rate: int, channels: int) -> None:
    """Normalise, trim, pad, resample and remix into a PCM16 wav at the clip's rate/channels.

    Stereo is made slightly asymmetric (right channel 3 dB down) so a downmix that just takes
    the left channel is distinguishable from one that averages.
    """
    remix = ["remix", "1", "1v0.708"] if channels == 2 else []
    trim = ["silence", "1", "0.02", f"{SILENCE_DB}d"]  # drops leading silence; reversed: trailing
    _run(
        ["sox", "-R", "-D", str(raw), "-b", "16", "-e", "signed-integer", str(out)]
        + ["gain", "-n", str(PEAK_DB)]
        + [*trim, "reverse", *trim, "reverse"]
        + ["pad", str(PAD_SECONDS[0]), str(PAD_SECONDS[1])]
        + ["rate", "-v", str(rate)]
        + remix
    )


def _read_pcm16(path: Path) -> tuple[np.ndarray, int, int]:
    with wave.open(str(path), "rb") as w:
        rate, channels, n = w.getframerate(), w.getnchannels(), w.getnframes()
        assert w.getsampwidth() == 2
        pcm = np.frombuffer(w.readframes(n), dtype="<i2").reshape(-1, channels)
    return pcm, rate, channels


def _encode_with_av(master: Path, out: Path, container_format: str, codec: str, bit_rate: int) -> None:
    """Encode a PCM16 wav with PyAV's ffmpeg, bit-exactly (no random serials/UIDs/versions)."""
    import av

    pcm, rate, channels = _read_pcm16(master)
    layout = "stereo" if channels == 2 else "mono"
    with av.open(str(out), "w", format=container_format, options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream(codec, rate=rate, options={"flags": "+bitexact"})
        stream.layout = layout
        stream.bit_rate = bit_rate
        # Feed the encoder in its native sample format (opus: interleaved s16, aac: planar float).
        sample_format = stream.codec_context.codec.audio_formats[0].name
        stream.format = sample_format
        chunk = 1024
        for start in range(0, len(pcm), chunk):
            block = pcm[start : start + chunk]
            if sample_format == "s16":
                frame = av.AudioFrame.from_ndarray(block.reshape(1, -1).copy(), format="s16", layout=layout)
            elif sample_format == "fltp":
                planar = np.ascontiguousarray(block.T.astype(np.float32) / 32768.0)
                frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout=layout)
            else:
                raise ValueError(f"unexpected sample format {sample_format} for {codec}")
            frame.rate = rate
            frame.pts = start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _encode(clip: Clip, master: Path, out: Path) -> None:
    if clip.codec == "wav":
        shutil.copyfile(master, out)
    elif clip.codec == "flac":
        _run(["sox", "-R", "-D", str(master), "-C", "8", str(out)])
    elif clip.codec == "mp3":
        _run(["sox", "-R", "-D", str(master), "-C", str(MP3_KBPS), str(out)])
    elif clip.codec == "ogg":
        _encode_with_av(master, out, "ogg", "libopus", clip.bit_rate or OPUS_BITRATE)
    elif clip.codec == "webm":
        _encode_with_av(master, out, "webm", "libopus", clip.bit_rate or OPUS_BITRATE)
    elif clip.codec == "m4a":
        _encode_with_av(master, out, "ipod", "aac", clip.bit_rate or AAC_BITRATE)
    else:
        raise ValueError(f"unknown codec {clip.codec!r}")


def generate(clip_set: ClipSet = STANDARD) -> dict[str, dict]:
    for tool in ("flite", "espeak-ng", "sox"):
        _require(tool)
    audio_dir = clip_set.audio_dir
    audio_dir.mkdir(parents=True, exist_ok=True)
    references: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        for clip in clip_set.clips:
            raw, master = tmpdir / "raw.wav", tmpdir / "master.wav"
            _synthesise(clip, raw)
            _master(raw, master, clip.rate, clip.channels)
            pcm, rate, channels = _read_pcm16(master)
            staged = tmpdir / clip.name
            _encode(clip, master, staged)
            shutil.move(staged, audio_dir / clip.name)
            references[clip.name] = {
                "text": clip.text,
                "language": clip.language,
                "voice": clip.voice_label,
                "codec": clip.codec,
                "seconds": round(len(pcm) / rate, 3),
                "sample_rate": rate,
                "channels": channels,
            }
            print(f"{clip.name:24s} {references[clip.name]['seconds']:6.3f}s  {clip.voice_label}")
    clip_set.references.write_text(json.dumps(references, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    stale = sorted(p.name for p in audio_dir.iterdir() if p.name not in references and p != clip_set.references)
    if stale:
        print(f"note: files in {audio_dir} not produced by this script: {', '.join(stale)}")
    total = sum(p.stat().st_size for p in audio_dir.iterdir() if p.is_file() and p.name in references)
    print(f"{len(references)} clips, {total / 1e6:.2f} MB in {audio_dir.relative_to(PROJECT_ROOT)}")
    return references
