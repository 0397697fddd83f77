"""Undo what a failed operation created: each create is paired with its delete, run newest first on failure."""

from __future__ import annotations

import logging
from types import TracebackType

from whisper_lmi.sagemaker.aws import ApiCall, Aws

logger = logging.getLogger(__name__)


class Rollback:
    """``with Rollback(aws) as created: created.call(create, undo=delete)``: an exception inside deletes what the
    block created and goes on; a delete that fails too is logged (it is left behind), never hides the first error."""

    def __init__(self, aws: Aws) -> None:
        self.aws = aws
        self.undo: list[ApiCall] = []

    def call(self, api_call: ApiCall, undo: ApiCall) -> dict:
        response = self.aws.call(api_call)
        self.undo.append(undo)
        return response

    def __enter__(self) -> Rollback:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        if error is None:
            return
        for api_call in reversed(self.undo):
            self._undo(api_call)

    def _undo(self, api_call: ApiCall) -> None:
        name = next(iter(api_call.params.values()))
        try:
            self.aws.call(api_call)
        except Exception as failure:  # keep the first error; say what is left
            logger.warning("rollback: %s %s failed (%s); it is left behind", api_call.operation, name, failure)
            return
        logger.info("rolled back: %s %s", api_call.operation, name)
