"""One log line per request when it is answered: its id, status, audio seconds, per-stage timings and speed.

Stages: ``parse``, ``fetch`` (only for an ``audio_url``), ``decode`` (the audio), ``plan`` (VAD and planning), this
request's share of each model stage of every batch it was in (``log-mel``, ``encode``, ``detect``, ``generate``,
``align``; shared by audio seconds), ``segments`` and ``render``: the same in sync and async mode. RTF (real-time factor) = processing seconds / audio seconds,
processing being the sum of those stages; RTFx = its inverse (audio seconds per processing second). A request that
failed is logged with the stages it went through and no speed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from serving.identity import RequestId

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RequestRecord:
    request: RequestId
    status: int
    audio_seconds: float | None  # None when the audio was never decoded
    stages_ms: Mapping[str, float]
    language: str | None = None  # the transcript's language, when there is one
    language_probability: float | None = None  # when it was detected

    @property
    def processing_seconds(self) -> float:
        return sum(self.stages_ms.values()) / 1000

    @property
    def rtf(self) -> float | None:
        if self.status != 200 or not self.audio_seconds:
            return None
        return self.processing_seconds / self.audio_seconds

    def line(self) -> str:
        stages = ", ".join(f"{stage} {ms:.1f} ms" for stage, ms in self.stages_ms.items())
        audio = "no audio" if self.audio_seconds is None else f"{self.audio_seconds:.2f} s audio"
        text = f"request {self.request}: {self.status}, {audio}, {self._language()}{stages or 'no stages'}"
        rtf = self.rtf
        if rtf is not None:
            text += f"; RTF {rtf:.4f}, RTFx {1 / max(rtf, 1e-9):.1f}"
        return text


    def _language(self) -> str:
        if not self.language:
            return ""
        if self.language_probability is None:
            return f"language {self.language} (given), "
        return f"language {self.language} (p {self.language_probability:.2f}), "


def log_request(record: RequestRecord) -> None:
    logger.info("%s", record.line())

