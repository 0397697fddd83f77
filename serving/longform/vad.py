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
# Frames per model run (about 33 s of audio): one run over an hour of frames made onnxruntime hold about 1.7 GB, and
# its memory arena kept it after the request; per run, the inputs are built from a view of this stretch of the
# waveform. The model's recurrent state runs through the frames in order: each run starts from the state the last one
# ended with, so the runs give what one run gives.
FRAMES_PER_RUN = 1024
MODEL_FILE = "silero_vad_v6.onnx"


@dataclass(frozen=True)
class VadOptions:
    threshold: float = 0.5  # a frame with at least this speech probability starts speech
    release: float = 0.35  # speech ends after frames below this ...
    min_silence_seconds: float = 2.0  # ... for this long
    min_speech_seconds: float = 0.25  # shorter regions are dropped
    pad_seconds: float = 0.4  # kept around each region
    # Inside a region, frames below ``release`` for this long are a pause a chunked window may end at (a breath or a
    # sentence's end; the gaps between words and a stop's closure are shorter, 30-260 ms on the long test file).
    min_pause_seconds: float = 0.3


class SileroVad:
    def __init__(self, model_path: Path) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1
        options.log_severity_level = 4
        options.enable_cpu_mem_arena = False  # what a run allocates is freed after it, not kept for the next
        self.session = onnxruntime.InferenceSession(
            str(model_path), providers=["CPUExecutionProvider"], sess_options=options
        )

    def probabilities(self, waveform: np.ndarray) -> np.ndarray:
        """Speech probability of each 32 ms frame, :data:`FRAMES_PER_RUN` frames per model run."""
        frames = -(-waveform.shape[0] // FRAME_SAMPLES)
        state = np.zeros(STATE_SHAPE, dtype=np.float32), np.zeros(STATE_SHAPE, dtype=np.float32)
        result = np.empty(frames, dtype=np.float32)
        for first in range(0, frames, FRAMES_PER_RUN):
            inputs = frame_inputs(waveform, first, min(frames, first + FRAMES_PER_RUN))
            output, *state = self.session.run(None, {"input": inputs, "h": state[0], "c": state[1]})
            result[first : first + inputs.shape[0]] = np.asarray(output, dtype=np.float32).reshape(-1)[: inputs.shape[0]]
        return result


def frame_inputs(waveform: np.ndarray, first: int, end: int) -> np.ndarray:
    """The model's input rows for frames ``first``..``end``: each frame preceded by the last :data:`CONTEXT_SAMPLES`
    of the frame before it (zeros before the first), the last frame zero-padded. Built from views of the waveform:
    only these rows are copied."""
    rows = np.zeros((end - first, CONTEXT_SAMPLES + FRAME_SAMPLES), dtype=np.float32)
    start = first * FRAME_SAMPLES
    piece = waveform[start : end * FRAME_SAMPLES]
    whole = piece.shape[0] // FRAME_SAMPLES
    rows[:whole, CONTEXT_SAMPLES:] = piece[: whole * FRAME_SAMPLES].reshape(whole, FRAME_SAMPLES)
    rows[whole : whole + 1, CONTEXT_SAMPLES : CONTEXT_SAMPLES + piece.shape[0] - whole * FRAME_SAMPLES] = piece[
        whole * FRAME_SAMPLES :
    ]
    rows[1:, :CONTEXT_SAMPLES] = rows[:-1, -CONTEXT_SAMPLES:]
    if first > 0:
        rows[0, :CONTEXT_SAMPLES] = waveform[start - CONTEXT_SAMPLES : start]
    return rows


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
class Pause:
    """A stretch of the joined audio (samples) with no speech in it: where a window may end and the next begin."""

    start: int
    end: int


def speech_pauses(probabilities: np.ndarray, regions: list[Region], options: VadOptions) -> tuple[Pause, ...]:
    """The pauses of the joined audio, in order: each joint between two regions (from the earlier speech's offset to
    the later one's onset, their padding), inside a region's speech every run of frames below ``release`` lasting
    at least ``min_pause_seconds``, and the last region's padding after its speech (the audio ends in that pause)."""
    min_frames = max(1, round(options.min_pause_seconds * SAMPLE_RATE / FRAME_SAMPLES))
    pauses, joined = [], 0
    for index, region in enumerate(regions):
        if index > 0:
            pauses.append(Pause(joined - (regions[index - 1].end - regions[index - 1].offset),
                                joined + region.onset - region.start))
        low = probabilities[region.onset // FRAME_SAMPLES : -(-region.offset // FRAME_SAMPLES)] < options.release
        for first, stop in _runs(low, min_frames):
            start = max(region.onset, (region.onset // FRAME_SAMPLES + first) * FRAME_SAMPLES)
            end = min(region.offset, (region.onset // FRAME_SAMPLES + stop) * FRAME_SAMPLES)
            if end > start:
                pauses.append(Pause(joined + start - region.start, joined + end - region.start))
        joined += region.end - region.start
    if regions and regions[-1].end > regions[-1].offset:
        pauses.append(Pause(joined - (regions[-1].end - regions[-1].offset), joined))
    return tuple(pauses)


def _runs(flags: np.ndarray, min_length: int) -> list[tuple[int, int]]:
    """(first, stop) of each run of True at least ``min_length`` long."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], flags.astype(np.int8), [0]))))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2]) if b - a >= min_length]


@dataclass(frozen=True)
class SpeechMap:
    """The speech regions of a request, joined end to end; maps times in the joined audio back to the original.
    ``pauses``: where the joined audio has no speech (chunked windows end there); empty when no VAD ran."""

    regions: tuple[Region, ...]
    pauses: tuple[Pause, ...] = ()

    @classmethod
    def whole(cls, samples: int) -> "SpeechMap":
        return cls((Region(0, samples, 0, samples),))

    @property
    def joined_samples(self) -> int:
        return sum(region.end - region.start for region in self.regions)

    def join(self, waveform: np.ndarray) -> np.ndarray | JoinedAudio:
        """The speech end to end, read through the waveform (no copy of it): the waveform itself where it is all
        speech."""
        if len(self.regions) == 1 and (self.regions[0].start, self.regions[0].end) == (0, waveform.shape[0]):
            return waveform
        return JoinedAudio(waveform, self.regions)

    def original_span(self, start: float, end: float, region: int | None = None) -> tuple[float, float]:
        """A (start, end) in the joined audio -> the original audio. A start inside a region's padding before the
        speech moves to the speech onset, an end inside the padding after it to the speech offset: the padding is
        context for the model, not speech. ``region``: both mapped into that region (times outside it at its
        edges), so that the span covers no stretch between regions."""
        first, second = self._locate(start, is_end=False), self._locate(end, is_end=True)
        if region is not None:
            first = second = region
        begin, finish = self._original(start, first), self._original(end, second)
        onset, offset = self.regions[first].onset / SAMPLE_RATE, self.regions[second].offset / SAMPLE_RATE
        if begin < onset < finish:
            begin = onset
        if begin < offset < finish:
            finish = offset
        return begin, finish

    def region_of(self, start: float, end: float) -> int:
        """The region holding the most of a span of the joined audio (the earliest of equals)."""
        first, second = self._locate(start, is_end=False), self._locate(end, is_end=True)
        starts = self._joined_starts

        def overlap(index: int) -> float:
            low = max(start * SAMPLE_RATE, starts[index])
            high = min(end * SAMPLE_RATE, starts[index] + self.regions[index].end - self.regions[index].start)
            return high - low

        return max(range(first, max(first, second) + 1), key=lambda index: (overlap(index), -index))

    def _locate(self, seconds: float, is_end: bool) -> int:
        """The region of a joined-audio time; a time on a joint belongs to the earlier region if it is an end."""
        sample = min(max(seconds * SAMPLE_RATE, 0.0), self.joined_samples)
        starts = self._joined_starts
        found = bisect.bisect_left(starts, sample) if is_end else bisect.bisect_right(starts, sample)
        return max(0, min(found - 1, len(self.regions) - 1))

    def _original(self, seconds: float, index: int) -> float:
        """A joined time -> the original, in region ``index`` (a time outside it at its nearer edge)."""
        region, joined_start = self.regions[index], self._joined_starts[index]
        sample = min(max(seconds * SAMPLE_RATE, joined_start), joined_start + region.end - region.start)
        return (region.start + sample - joined_start) / SAMPLE_RATE

    @property
    def _joined_starts(self) -> list[int]:
        starts, total = [], 0
        for region in self.regions:
            starts.append(total)
            total += region.end - region.start
        return starts


@dataclass(frozen=True)
class JoinedAudio:
    """A waveform's speech regions end to end, as the plans index it (``shape``, ``[start:stop]``), read through the
    one decoded waveform: a slice within one region is a view of it; only a slice across regions is copied (one
    window's worth)."""

    waveform: np.ndarray
    regions: tuple[Region, ...]

    @property
    def shape(self) -> tuple[int]:
        return (sum(region.end - region.start for region in self.regions),)

    @property
    def dtype(self) -> np.dtype:
        return self.waveform.dtype

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: slice) -> np.ndarray:
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("JoinedAudio takes [start:stop] slices only")
        start, stop, _ = key.indices(self.shape[0])
        pieces, at = [], 0
        for region in self.regions:
            length = region.end - region.start
            low, high = max(start, at), min(stop, at + length)
            if low < high:
                pieces.append(self.waveform[region.start + low - at : region.start + high - at])
            at += length
        if len(pieces) == 1:
            return pieces[0]
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=self.waveform.dtype)


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
