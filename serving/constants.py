"""Whisper's fixed audio geometry, named once; everything else is derived from these."""

SAMPLE_RATE = 16_000  # Hz: Whisper's feature extractor works at 16 kHz only
WINDOW_SECONDS = 30  # one encoder window
HOP_LENGTH = 160  # samples between mel frames (10 ms)
N_FFT = 400  # 25 ms analysis window

WINDOW_SAMPLES = SAMPLE_RATE * WINDOW_SECONDS  # 480,000 samples per window
FRAMES_PER_WINDOW = WINDOW_SAMPLES // HOP_LENGTH  # 3,000 mel frames per window
ENCODER_STRIDE = 2  # the encoder's second convolution halves the frame rate
ENCODER_POSITIONS = FRAMES_PER_WINDOW // ENCODER_STRIDE  # 1,500 encoder states per window
SECONDS_PER_TIMESTAMP = WINDOW_SECONDS / ENCODER_POSITIONS  # 0.02 s: one timestamp token per encoder state

TEXT_POSITIONS = 448  # the decoder's context (n_text_ctx) in every Whisper checkpoint
MAX_PROMPT_TOKENS = TEXT_POSITIONS // 2 - 1  # 223: Whisper keeps at most the last this many prompt tokens
MAX_BEAM_SIZE = 16  # most beams per window (a window's beams are rows of one decoder batch, max_batch_windows rows)
MAX_BEST_OF = 16  # most samples per window at a fallback temperature
# Samples per window at a fallback temperature for requests that name none: openai/whisper's CLI and faster-whisper's
# default (the set's greedy WER: 17.30 % with 5, 18.35 % with 1, faster-whisper 17.44 %; docs/accuracy.md)
DEFAULT_BEST_OF = 5
