"""Sessions, clients and API calls as data, so ``--dry-run`` can print exactly what would be sent."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

import boto3
from botocore.config import Config

from whisper_lmi.errors import WhisperLmiError

logger = logging.getLogger(__name__)

RETRY_CONFIG = Config(retries={"max_attempts": 5, "mode": "standard"})


@dataclass(frozen=True)
class AwsOptions:
    """Where and as whom: from the standard AWS configuration, overridable by flags."""

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None  # every service's requests go here (e.g. a moto server)
    dry_run: bool = False
    # One service's requests elsewhere, e.g. {"sagemaker-runtime": "http://127.0.0.1:8080"}; before endpoint_url.
    endpoint_urls: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ApiCall:
    """One request: a client method (snake_case) and its parameters exactly as boto3 takes them."""

    service: str
    operation: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def render(self) -> str:
        body = json.dumps(self.params, indent=2, sort_keys=True, default=_printable)
        return f"{self.service}.{self.operation}\n{body}"


class Aws:
    """A boto3 session plus the dry-run switch; every AWS request of the tool goes through here."""

    def __init__(self, options: AwsOptions, out: TextIO | None = None) -> None:
        self.options = options
        self.out = out
        region = options.region or os.environ.get("AWS_REGION")  # botocore itself reads only AWS_DEFAULT_REGION
        self.session = boto3.Session(profile_name=options.profile, region_name=region)
        self._clients: dict[str, Any] = {}

    @property
    def dry_run(self) -> bool:
        return self.options.dry_run

    @property
    def region(self) -> str:
        region = self.session.region_name
        if not region:
            raise WhisperLmiError("no AWS region: pass --region, set AWS_DEFAULT_REGION, or set region in ~/.aws/config")
        return region

    def client(self, service: str) -> Any:
        """The service's client. Without an endpoint URL in the options botocore finds one as it always does, so
        ``AWS_ENDPOINT_URL_<SERVICE>`` (e.g. ``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``) and ``AWS_ENDPOINT_URL`` work."""
        if service not in self._clients:
            self._clients[service] = self.session.client(
                service, region_name=self.region, endpoint_url=self.endpoint_url(service), config=RETRY_CONFIG
            )
        return self._clients[service]

    def endpoint_url(self, service: str) -> str | None:
        return self.options.endpoint_urls.get(service) or self.options.endpoint_url

    def call(self, api_call: ApiCall) -> dict[str, Any]:
        """Send ``api_call``; in dry-run mode print it instead and return an empty response."""
        if self.dry_run:
            print(f"[dry-run] {api_call.render()}", file=self.out or sys.stdout)
            return {}
        logger.debug("calling %s.%s", api_call.service, api_call.operation)
        return getattr(self.client(api_call.service), api_call.operation)(**api_call.params)

    def account_id(self) -> str:
        return self.client("sts").get_caller_identity()["Account"]


def _printable(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    return str(value)


def error_code(error: Exception) -> str:
    """The AWS error code of a botocore ClientError (empty for anything else)."""
    response = getattr(error, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))
