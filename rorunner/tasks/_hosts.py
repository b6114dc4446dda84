"""Turn the seed's `ipv6` argument into plain connection data."""

from __future__ import annotations

from dataclasses import dataclass

from rorunner.address import parse_endpoint
from rorunner.model import ConnectionSpec
from rorunner.tasks._names import spec_dir_name, spec_token
from rorunner.transport import spec_for_address

HostRef = str | ConnectionSpec

# Local steps run through the pool's local transport; the controller is not an inventory host.
LOCAL_SPEC = ConnectionSpec(address="localhost", connection="local", label="localhost")


@dataclass(frozen=True)
class Target:
    """A resolved host: its spec, the token used in task names and the per-host fetch directory."""

    spec: ConnectionSpec
    token: str
    dir_name: str
    address: str  # what a callable receives as `ipv6`: the string as given, or spec.address


def resolve_host(ipv6: HostRef) -> Target:
    """Resolve a bare address, "[addr]:port", a host name or a ConnectionSpec (used as is)."""
    if isinstance(ipv6, ConnectionSpec):
        return Target(
            ipv6, spec_token(ipv6, ipv6.port), spec_dir_name(ipv6, ipv6.port), ipv6.address
        )
    if not isinstance(ipv6, str) or not ipv6.strip():
        raise ValueError(f"ipv6 must be an address string or a ConnectionSpec, not {ipv6!r}")
    given = ipv6.strip()
    endpoint = parse_endpoint(given)  # the one parse: the spec, the name token and the dir
    spec = spec_for_address(endpoint)
    return Target(spec, endpoint.token, spec_dir_name(spec, endpoint.port), given)


def host_token(ipv6: HostRef) -> str:
    """The host part of task names: "2001:db8::1" -> "2001_db8__1", "[::1]:2201" -> "__1_p2201"."""
    return resolve_host(ipv6).token


def host_dir(ipv6: HostRef) -> str:
    """The <host> directory a fetch lands in: the label, the address, or "[addr]:port"."""
    return resolve_host(ipv6).dir_name
