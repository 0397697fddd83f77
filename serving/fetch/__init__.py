"""``audio_url`` input: the URL's grammar (``s3://`` and ``https://``), the S3 and https fetchers with their
limits and deadlines, and the address checks that keep https fetches on public hosts.

May import: the shared modules only. Never torch.
"""
