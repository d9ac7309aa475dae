"""Requests Klantbeeld makes to URLs that staff typed in (outgoing webhooks): only to public
addresses.

A URL whose host is, or resolves to, a loopback, private, link-local (169.254.169.254:
the cloud's metadata service), shared or reserved address is refused, unless it lies in a
network the operator allowed on purpose (WEBHOOK_ALLOWED_NETWORKS, e.g. the shop's own
10.20.0.0/16). The check runs when the URL is saved and again when each request connects:
the connection goes to the very address that was checked, so a DNS answer that changes in
between (DNS rebinding) cannot lead the request inside. Without it the admin, which shows
the receiver's answer, would be a port scanner of the network it runs in.
"""

import ipaddress
import socket
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.utils.translation import gettext as _
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NameResolutionError, NewConnectionError
from urllib3.util.connection import create_connection

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(ValueError):
    """The URL's host is not a public address (and not in an allowed network)."""


@cache
def _allowed_networks(spec: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(ipaddress.ip_network(network, strict=False) for network in spec)


def address_allowed(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.is_global and not address.is_multicast:
        return True
    networks = _allowed_networks(tuple(settings.WEBHOOK_ALLOWED_NETWORKS))
    return any(address in network for network in networks)


def public_addresses(host: str, port: int) -> list[tuple[Any, ...]]:
    """The addresses `host` resolves to (getaddrinfo's tuples); TargetRefused when any of
    them is not public: a name that also points inside is refused as a whole."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for *_rest, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if not address_allowed(address):
            raise TargetRefused(
                _("%(host)s is not a public address (%(address)s).")
                % {"host": host, "address": address}
            )
    return infos


def url_check(url: str) -> None:
    """Refuse (TargetRefused) a URL that is not http(s) to a public address; a name that
    does not resolve now is refused too (a typo, or an internal name)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused(_("Only http:// and https:// URLs are allowed."))
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        public_addresses(parts.hostname, port)
    except socket.gaierror as exc:
        raise TargetRefused(_("%(host)s cannot be found.") % {"host": parts.hostname}) from exc


class _PublicOnly:
    """urllib3's connection, connecting only to the public address it checked."""

    host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any
    _dns_host: str

    def _new_conn(self) -> socket.socket:
        try:
            infos = public_addresses(self._dns_host, self.port)
        except TargetRefused as exc:
            raise NewConnectionError(self, str(exc)) from exc  # type: ignore[arg-type]
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[arg-type]
        failure: OSError | None = None
        for *_rest, sockaddr in infos:
            try:
                return create_connection(
                    (sockaddr[0], sockaddr[1]),
                    self.timeout,
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except OSError as exc:
                failure = exc
        raise NewConnectionError(self, f"Failed to establish a new connection: {failure}")  # type: ignore[arg-type]


class _PublicHTTPConnection(_PublicOnly, HTTPConnection):
    pass


class _PublicHTTPSConnection(_PublicOnly, HTTPSConnection):
    pass


class _PublicHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


class _PublicAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _PublicHTTPPool,
            "https": _PublicHTTPSPool,
        }


def public_session() -> requests.Session:
    """A requests session that connects only to public addresses (and ignores the
    environment's proxy settings, which would connect somewhere else)."""
    session = requests.Session()
    session.trust_env = False
    adapter = _PublicAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
