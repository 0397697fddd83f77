"""Where the speech is: Silero VAD (ONNX, CPU) -> speech regions, and the map between the original audio and the
audio with everything but speech removed.

Whisper invents text for silence, steady noise and tones, and its first timestamp may not be later than 1 s, so
leading silence shifts every timestamp. Measured on the test material (``python -m benchmarks.silence``): Whisper's own
no-speech probability leaves "you you" on digital silence and text on a tone and on pink noise; an energy and
stationarity gate rejects speech at 5 dB SNR; Silero VAD rejects all of them and keeps speech at 0 dB SNR. So
requests are cut down to their speech regions before windowing, and timestamps are mapped back.
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from serving.constants import SAMPLE_RATE

logger = logging.getLogger(__name__)

FRAME_SAMPLES = 512  # Silero's frame at 16 kHz (32 ms)
CONTEXT_SAMPLES = 64  # samples of the previous frame the model sees with each frame
STATE_SHAPE = (1, 1, 128)
MODEL_FILE = "silero_vad_v6.onnx"


@dataclass(frozen=True)
class VadOptions:
    threshold: float = 0.5  # a frame with at least this speech probability starts speech
    release: float = 0.35  # speech ends after frames below this ...
    min_silence_seconds: float = 2.0  # ... for this long
    min_speech_seconds: float = 0.25  # shorter regions are dropped
    pad_seconds: float = 0.4  # kept around each region


class SileroVad:
    def __init__(self, model_path: Path) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        options.log_severity_level = 4
        self.session = onnxruntime.InferenceSession(
            str(model_path), providers=["CPUExecutionProvider"], sess_options=options
        )

    def probabilities(self, waveform: np.ndarray) -> np.ndarray:
        """Speech probability of each 32 ms frame."""
        frames = -(-waveform.shape[0] // FRAME_SAMPLES)
        padded = np.zeros(frames * FRAME_SAMPLES, dtype=np.float32)
        padded[: waveform.shape[0]] = waveform
        batch = padded.reshape(frames, FRAME_SAMPLES)
        context = np.roll(batch[:, -CONTEXT_SAMPLES:], 1, axis=0)
        context[0] = 0.0
        inputs = np.concatenate([context, batch], axis=1)
        zeros = np.zeros(STATE_SHAPE, dtype=np.float32)
        output, _, _ = self.session.run(None, {"input": inputs, "h": zeros, "c": zeros})
        return np.asarray(output, dtype=np.float32).reshape(-1)[:frames]


@dataclass(frozen=True)
class Region:
    """Samples kept for one stretch of speech: ``start``-``end`` with padding, the speech itself from ``onset`` to
    ``offset``."""

    start: int
    end: int
    onset: int
    offset: int


def speech_regions(probabilities: np.ndarray, samples: int, options: VadOptions) -> list[Region]:
    """Frame probabilities -> padded, merged regions of speech."""
    min_speech = options.min_speech_seconds * SAMPLE_RATE
    pad = int(options.pad_seconds * SAMPLE_RATE)
    regions: list[Region] = []
    for onset, offset in _hysteresis(probabilities, options):
        if offset - onset < min_speech:
            continue
        offset = min(offset, samples)
        start, end = max(0, onset - pad), min(samples, offset + pad)
        if regions and start <= regions[-1].end:
            last = regions[-1]
            regions[-1] = Region(last.start, max(last.end, end), last.onset, max(last.offset, offset))
        else:
            regions.append(Region(start, end, onset, offset))
    return regions


def _hysteresis(probabilities: np.ndarray, options: VadOptions) -> list[tuple[int, int]]:
    silence_frames = max(1, round(options.min_silence_seconds * SAMPLE_RATE / FRAME_SAMPLES))
    regions, start, quiet = [], None, 0
    for index, probability in enumerate(probabilities):
        if start is None:
            if probability >= options.threshold:
                start, quiet = index, 0
            continue
        quiet = quiet + 1 if probability < options.release else 0
        if quiet >= silence_frames:
            regions.append((start * FRAME_SAMPLES, (index - quiet + 1) * FRAME_SAMPLES))
            start = None
    if start is not None:
        regions.append((start * FRAME_SAMPLES, (len(probabilities) - quiet) * FRAME_SAMPLES))
    return regions


@dataclass(frozen=True)
class SpeechMap:
    """The speech regions of a request, joined end to end; maps times in the joined audio back to the original."""

    regions: tuple[Region, ...]

    @classmethod
    def whole(cls, samples: int) -> "SpeechMap":
        return cls((Region(0, samples, 0, samples),))

    @property
    def joined_samples(self) -> int:
        return sum(region.end - region.start for region in self.regions)

    def join(self, waveform: np.ndarray) -> np.ndarray:
        if len(self.regions) == 1 and (self.regions[0].start, self.regions[0].end) == (0, waveform.shape[0]):
            return waveform
        if not self.regions:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate([waveform[region.start : region.end] for region in self.regions])

    def original_span(self, start: float, end: float) -> tuple[float, float]:
        """A (start, end) in the joined audio -> the original audio. A start inside a region's padding before the
        speech moves to the speech onset, an end inside the padding after it to the speech offset: the padding is
        context for the model, not speech."""
        first, second = self._locate(start, is_end=False), self._locate(end, is_end=True)
        begin, finish = self._original(start, first), self._original(end, second)
        onset, offset = self.regions[first].onset / SAMPLE_RATE, self.regions[second].offset / SAMPLE_RATE
        if begin < onset < finish:
            begin = onset
        if begin < offset < finish:
            finish = offset
        return begin, finish

    def _locate(self, seconds: float, is_end: bool) -> int:
        """The region of a joined-audio time; a time on a joint belongs to the earlier region if it is an end."""
        sample = min(max(seconds * SAMPLE_RATE, 0.0), self.joined_samples)
        starts = self._joined_starts
        found = bisect.bisect_left(starts, sample) if is_end else bisect.bisect_right(starts, sample)
        return max(0, min(found - 1, len(self.regions) - 1))

    def _original(self, seconds: float, index: int) -> float:
        sample = min(max(seconds * SAMPLE_RATE, 0.0), self.joined_samples)
        return (self.regions[index].start + sample - self._joined_starts[index]) / SAMPLE_RATE

    @property
    def _joined_starts(self) -> list[int]:
        starts, total = [], 0
        for region in self.regions:
            starts.append(total)
            total += region.end - region.start
        return starts


def find_model(explicit: str | None) -> Path | None:
    """The Silero model: ``option.vad_model``, else the copy packaged beside this module, else faster-whisper's."""
    candidates = [Path(explicit)] if explicit else []
    candidates.append(Path(__file__).parent / "assets" / MODEL_FILE)
    try:
        import faster_whisper

        candidates.append(Path(faster_whisper.__file__).parent / "assets" / MODEL_FILE)
    except ImportError:
        pass
    return next((path for path in candidates if path.is_file()), None)
