"""Which IP addresses an https fetch may connect to: public unicast only.

A fetch to a loopback, private, link-local (the instance metadata service at 169.254.169.254), multicast, reserved
or unspecified address would let a client reach the endpoint's own network (SSRF). IPv6 forms that carry an IPv4
address (IPv4-mapped ``::ffff:a.b.c.d``, 6to4 ``2002::/16``, NAT64 ``64:ff9b::/96``) are judged by that address.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address

IPAddress = IPv4Address | IPv6Address

# Properties of Python's ipaddress objects that make an address unfit, in the order they are reported.
_FORBIDDEN_PROPERTIES = (
    ("unspecified", "is_unspecified"),
    ("loopback", "is_loopback"),
    ("link-local", "is_link_local"),
    ("multicast", "is_multicast"),
    ("reserved", "is_reserved"),
    ("private", "is_private"),
    ("site-local", "is_site_local"),  # IPv6 only (fec0::/10, deprecated)
)
NAT64_WELL_KNOWN = IPv6Network("64:ff9b::/96")  # RFC 6052: the last 32 bits are an IPv4 address
NAT64_LOCAL_USE = IPv6Network("64:ff9b:1::/48")  # RFC 8215: local translators, i.e. a private network


def forbidden_reason(address: IPAddress | str) -> str | None:
    """Why a fetch must not connect to ``address`` (e.g. ``"loopback"``), or None for a public unicast address."""
    address = ip_address(address) if isinstance(address, str) else address
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        reason = forbidden_reason(embedded)
        return f"{reason} (as {embedded} inside {address})" if reason else None
    if isinstance(address, IPv6Address) and address in NAT64_LOCAL_USE:
        return "private (NAT64 local use)"
    for reason, attribute in _FORBIDDEN_PROPERTIES:
        if getattr(address, attribute, False):
            return reason
    if not address.is_global:  # e.g. 100.64.0.0/10 (carrier-grade NAT), 192.0.0.0/24
        return "not globally routable"
    return None


def _embedded_ipv4(address: IPAddress) -> IPv4Address | None:
    if isinstance(address, IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64_WELL_KNOWN:
        return IPv4Address(int(address) & 0xFFFF_FFFF)
    return None
