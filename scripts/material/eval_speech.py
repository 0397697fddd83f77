"""The evaluation set of ``scripts.material.eval_corpus`` as files: spoken offline (flite, espeak-ng, sox: the tools
of ``scripts.material.speech``) into 16 kHz mono FLAC under a cache folder, on first use, and read back from there.

``ensure_eval_set(root)`` returns the set's directory (``<root>/<key>/``, the key a digest of the clip list
and the speaking settings), making it first when it is missing: about 9 MB, too much to commit, and deterministic
(the engines are, sox runs without dither and with its repeatable seed), so every machine makes the same files.
``references.json`` in it, written last, lists each clip's text, voice, speed and duration.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import asdict
from pathlib import Path

from scripts.material.eval_corpus import SPEEDS, VOICES, EvalClip, eval_clips
from scripts.material.speech import PAD_SECONDS, PEAK_DB, SILENCE_DB

RATE = 16_000
REFERENCES = "references.json"
TOOLS = ("flite", "espeak-ng", "sox")


def eval_set_dir(root: Path) -> Path:
    settings = json.dumps([[asdict(c) for c in eval_clips()], VOICES, SPEEDS, PAD_SECONDS, PEAK_DB, SILENCE_DB, RATE])
    return root / hashlib.sha256(settings.encode()).hexdigest()[:16]


def ensure_eval_set(root: Path) -> Path:
    """The directory under ``root`` holding the set's FLAC files and ``references.json``, made first if missing."""
    directory = eval_set_dir(root)
    if (directory / REFERENCES).is_file():
        return directory
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} not found; install: apt-get install -y espeak-ng flite sox")
    directory.mkdir(parents=True, exist_ok=True)
    references = {}
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.wav"
        for clip in eval_clips():
            _speak(clip, raw)
            _master(raw, directory / clip.name)
            seconds = float(subprocess.run(["soxi", "-D", str(directory / clip.name)], check=True,
                                           capture_output=True, text=True).stdout)
            references[clip.name] = {"text": clip.text, "voice": clip.voice, "speed": clip.speed,
                                     "seconds": round(seconds, 3)}
    partial = directory / f"{REFERENCES}.tmp"
    partial.write_text(json.dumps(references, indent=1) + "\n")
    partial.replace(directory / REFERENCES)
    return directory


def load_references(directory: Path) -> dict[str, dict]:
    return json.loads((directory / REFERENCES).read_text())


def _speak(clip: EvalClip, out: Path) -> None:
    engine, voice = VOICES[clip.voice]
    stretch, words_per_minute = SPEEDS[clip.speed]
    if engine == "flite":
        command = ["flite", "--setf", f"duration_stretch={stretch}", "-voice", voice, "-t", clip.text, "-o", str(out)]
    else:
        command = ["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", str(out), "--", clip.text]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)


def _master(raw: Path, out: Path) -> None:
    """As ``scripts.material.speech``: normalise, trim the engine's silence, pad, resample; 16-bit FLAC."""
    trim = ["silence", "1", "0.02", f"{SILENCE_DB}d"]
    subprocess.run(
        ["sox", "-R", "-D", str(raw), "-b", "16", "-C", "8", str(out), "gain", "-n", str(PEAK_DB),
         *trim, "reverse", *trim, "reverse", "pad", str(PAD_SECONDS[0]), str(PAD_SECONDS[1]), "rate", "-v", str(RATE),
         "channels", "1"],
        check=True, stdout=subprocess.DEVNULL,
    )
