"""The address guard of https fetches: only public unicast addresses, IPv4 and IPv6, embedded IPv4 judged as such."""

from ipaddress import IPv4Address, IPv4Network, IPv6Address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serving.fetch.addresses import forbidden_reason

ANY = "*"  # refused; which reason depends on the Python version's ipaddress tables
FORBIDDEN = {
    "127.0.0.1": "loopback",
    "127.255.255.254": "loopback",
    "0.0.0.0": "unspecified",
    "10.0.0.1": "private",
    "172.16.0.1": "private",
    "172.31.255.255": "private",
    "192.168.1.1": "private",
    "169.254.169.254": "link-local",  # the EC2/SageMaker instance metadata service
    "169.254.170.2": "link-local",  # the ECS task metadata / credentials endpoint
    "100.64.0.1": ANY,  # carrier-grade NAT
    "192.0.2.1": ANY,  # documentation
    "198.18.0.1": ANY,  # benchmarking
    "224.0.0.1": "multicast",
    "239.255.255.250": "multicast",
    "240.0.0.1": ANY,
    "255.255.255.255": ANY,
    "::": "unspecified",
    "::1": "loopback",
    "fe80::1": "link-local",
    "fe80::1%eth0": "link-local",
    "fc00::1": ANY,
    "fd00:ec2::254": ANY,  # the instance metadata service over IPv6
    "fec0::1": ANY,
    "ff02::1": "multicast",
    "2001:db8::1": ANY,  # documentation
    "100::1": ANY,  # discard-only
    "::127.0.0.1": ANY,  # IPv4-compatible (deprecated)
    "::ffff:127.0.0.1": "loopback (as 127.0.0.1 inside ::ffff:7f00:1)",
    "::ffff:10.1.2.3": "private (as 10.1.2.3 inside ::ffff:a01:203)",
    "::ffff:169.254.169.254": "link-local (as 169.254.169.254 inside ::ffff:a9fe:a9fe)",
    "2002:7f00:1::1": "loopback (as 127.0.0.1 inside 2002:7f00:1::1)",  # 6to4
    "2002:a9fe:a9fe::": "link-local (as 169.254.169.254 inside 2002:a9fe:a9fe::)",
    "64:ff9b::7f00:1": "loopback (as 127.0.0.1 inside 64:ff9b::7f00:1)",  # NAT64
    "64:ff9b::a9fe:a9fe": "link-local (as 169.254.169.254 inside 64:ff9b::a9fe:a9fe)",
    "64:ff9b:1::1": "private (NAT64 local use)",
}
PUBLIC = ["8.8.8.8", "1.1.1.1", "52.95.110.1", "3.5.140.2", "2a00:1450:4001:82b::200e", "2606:4700:4700::1111",
          "::ffff:8.8.8.8", "2002:808:808::1", "64:ff9b::808:808"]
PRIVATE_V4 = [IPv4Network(net) for net in ("10.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
                                           "192.168.0.0/16", "100.64.0.0/10", "0.0.0.0/8", "224.0.0.0/4")]
ipv4 = st.integers(0, 2**32 - 1).map(IPv4Address)


@pytest.mark.parametrize(("address", "reason"), sorted(FORBIDDEN.items()))
def test_non_public_addresses_are_refused_with_the_reason(address, reason):
    found = forbidden_reason(address)
    assert found is not None
    assert reason in (ANY, found)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address):
    assert forbidden_reason(address) is None


@settings(max_examples=300, derandomize=True, database=None)
@given(ipv4)
def test_an_ipv4_address_and_its_ipv6_carriers_get_the_same_verdict(address):
    verdict = forbidden_reason(address) is None
    mapped = IPv6Address(f"::ffff:{address}")
    sixtofour = IPv6Address((0x2002 << 112) | (int(address) << 80))
    nat64 = IPv6Address((0x0064_FF9B << 96) | int(address))
    assert [forbidden_reason(carrier) is None for carrier in (mapped, sixtofour, nat64)] == [verdict] * 3


@settings(max_examples=300, derandomize=True, database=None)
@given(st.sampled_from(PRIVATE_V4).flatmap(lambda net: st.integers(0, net.num_addresses - 1).map(lambda i: net[i])))
def test_every_address_of_the_private_and_special_ipv4_ranges_is_refused(address):
    assert forbidden_reason(address) is not None
    assert forbidden_reason(IPv6Address(f"::ffff:{address}")) is not None
