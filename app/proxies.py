"""The client's real address and scheme when the site sits behind load balancers.

Behind a balancer every request comes from the balancer's address, so rate
limits and the session fingerprint (both keyed on ``request.remote_addr``)
would lump all clients together. Balancers say who the client was in
``X-Forwarded-For`` and which scheme it used in ``X-Forwarded-Proto``, but any
client can send those headers too. So they are read only from a peer listed in
``TRUSTED_PROXIES``, and of ``X-Forwarded-For`` only the part those proxies
wrote: walking from the right (the entry the nearest proxy added), the first
address that is not a trusted proxy is the client. Whatever lies left of it was
written by the client and is ignored.

Why here and not Werkzeug's ProxyFix or Apache's mod_remoteip:

- ProxyFix trusts a number of hops, not addresses. When a node can also be
  reached directly (another port, the internal network, a second balancer
  that does not add the header), a count of one takes the client's own
  ``X-Forwarded-For`` as its address.
- mod_remoteip trusts by address, but only rewrites the address: the scheme
  would still need the app, and its list would live in the rendered vhost,
  away from the configuration the app validates and ``check-deploy`` reads.
  This middleware also works under any WSGI server and the test client.

``X-Forwarded-Host`` is never read: the balancer passes the public host name
in ``Host`` (``ProxyPreserveHost On``), and links in mail come from
``PUBLIC_URL`` whatever a request says.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """WSGI middleware: REMOTE_ADDR and the URL scheme as the trusted proxies saw them."""

    def __init__(self, app: WSGIApplication, networks: Iterable[str]) -> None:
        self.app = app
        self.networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(network, strict=False) for network in networks
        )

    def is_trusted(self, address: str | None) -> bool:
        """Is ``address`` one of the proxies allowed to speak for the client?"""
        try:
            ip = ipaddress.ip_address((address or "").strip())
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.networks)

    def client_address(self, peer: str, forwarded_for: str) -> str:
        """The rightmost address in ``forwarded_for`` that no trusted proxy holds.

        When every listed hop is a trusted proxy (a health check from the
        balancer itself, say), the leftmost one is the client.
        """
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        address = peer
        for hop in reversed(hops):
            address = hop
            if not self.is_trusted(hop):
                break
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            # A proxy wrote something that is not an address ("unknown", a
            # port): the nearest proxy is then all that is known of the client.
            return peer
        # ::ffff:1.2.3.4 (a dual-stack balancer) is the IPv4 client 1.2.3.4, not
        # one of many clients sharing the IPv6 /64 the rate limits would key it by.
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        return str(mapped or ip)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        peer = environ.get("REMOTE_ADDR", "")
        if self.is_trusted(peer):
            forwarded_for = environ.get("HTTP_X_FORWARDED_FOR", "")
            if forwarded_for:
                environ["REMOTE_ADDR"] = self.client_address(peer, forwarded_for)
            # The nearest proxy's word: the last value, as that proxy set or appended it.
            scheme = environ.get("HTTP_X_FORWARDED_PROTO", "").rpartition(",")[2].strip().lower()
            if scheme in {"http", "https"}:
                environ["wsgi.url_scheme"] = scheme
        return self.app(environ, start_response)


def init_app(app: Flask) -> None:
    """Honour X-Forwarded-For and -Proto from TRUSTED_PROXIES; nothing changes without it."""
    networks: Any = app.config.get("TRUSTED_PROXIES") or ()
    if networks:
        app.wsgi_app = TrustedProxies(app.wsgi_app, networks)  # type: ignore[method-assign]
