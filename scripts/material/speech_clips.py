"""The speech clips ``python -m scripts.make_speech`` makes: which sentence, spoken by which text-to-speech voice, in
which codec, at which sample rate and channel count; and the two sets of them (the clips of ``tests/data/audio/`` and
the long-form sentences of ``tests/data/longform/``, one clip per sentence of ``scripts.material.longform_corpus``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from scripts.material.data import AUDIO_DIR, LONGFORM_DIR, LONGFORM_REFERENCES_FILE, REFERENCES_FILE
from scripts.material.longform_corpus import MAX_CLIP_WER, SENTENCES, VOICES


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


STANDARD = ClipSet(CLIPS, AUDIO_DIR, REFERENCES_FILE)
LONGFORM = ClipSet(LONGFORM_CLIPS, LONGFORM_DIR, LONGFORM_REFERENCES_FILE, max_clip_wer=MAX_CLIP_WER)
