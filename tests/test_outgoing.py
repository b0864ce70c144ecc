"""The guarded transport of every outgoing request (contract v2 §5, plugin/outgoing.py):
which addresses are public, URLs judged when saved, the check made when each connection is
opened, the connection going to the address checked, and redirects never followed."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from ipaddress import ip_address
from typing import Any

import pytest
import requests
import trustme
from pytest_httpserver import HTTPServer
from werkzeug import Response

from plugin.outgoing import DestinationRefused, GuardedSession, is_public, url_problem

REFUSED = [
    "127.0.0.1",
    "127.8.9.10",
    "0.0.0.0",
    "10.0.0.1",
    "10.255.255.254",
    "172.16.0.1",
    "192.168.1.1",
    "100.64.0.1",  # carrier-grade NAT
    "169.254.169.254",  # cloud metadata
    "224.0.0.1",  # multicast
    "::",
    "::1",
    "fc00::1",
    "fd12:3456::1",  # fc00::/7
    "fe80::1",
    "ff0e::1",  # multicast
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "::ffff:0:a00:1",  # IPv4-translated
    "::7f00:1",  # IPv4-compatible
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b:1::a00:1",  # local-use NAT64
    "64:ff9b:1:7f00:1::",  # local-use NAT64, /48 form of 127.0.0.1
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a00:1::",  # 6to4 of 10.0.0.1
    "2001:db8::1",  # documentation
    "2001::1",  # Teredo
]
ALLOWED = [
    "93.184.216.34",
    "8.8.8.8",
    "2606:4700::1111",
    "2a00:1450:4007:80e::200e",
    "::ffff:93.184.216.34",  # judged by the IPv4 address it carries
    "64:ff9b::808:808",
    "2002:808:808::",
]


@pytest.mark.parametrize("address", REFUSED)
def test_private_local_and_embedded_private_addresses_are_refused(address):
    assert not is_public(ip_address(address))


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address):
    assert is_public(ip_address(address))


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost.",
        "https://LOCALHOST.",
        "https://localhost:8443/api",
        "https://api.localhost/",
        "https://metadata.internal/",
        "https://printer.local./",
        "https://[64:ff9b::7f00:1]",
        "https://[2002:7f00:1::]",
        "https://[::ffff:127.0.0.1]/",
        "https://[::1]/",
        "https://[fe80::1%25eth0]/",
        "https://127.0.0.1/",
        "https://127.1/",  # the resolver's shorthand for 127.0.0.1
        "https://2130706433/",  # 127.0.0.1 as one number
        "https://0x7f.0.0.1/",
        "https://10.0.0.5/api",
        "https://169.254.169.254/latest/meta-data",
        "http://a.klaviyo.example/",  # not https
        "ftp://8.8.8.8/",
        "https:///path",  # no host
    ],
)
def test_urls_refused_when_saved(url):
    assert url_problem(url, allow_private=False)


@pytest.mark.parametrize(
    "url", ["https://a.klaviyo.com", "https://8.8.8.8/", "https://[2606:4700::1111]:8443/x"]
)
def test_public_https_urls_are_accepted_when_saved(url):
    assert url_problem(url, allow_private=False) is None


def test_the_private_setting_allows_http_and_private_hosts_but_not_other_schemes():
    assert url_problem("http://localhost:8080/events", allow_private=True) is None
    assert url_problem("https://10.0.0.5/", allow_private=True) is None
    assert url_problem("ftp://10.0.0.5/", allow_private=True)


# --- The check when a connection is opened ---------------------------------------------------


class Resolver:
    """Stands in for DNS: answers for some names and records every lookup."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[Any]]) -> None:
        self.answers = answers
        self.asked: list[str] = []
        self.real = socket.getaddrinfo
        monkeypatch.setattr(socket, "getaddrinfo", self)

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in self.answers:
            return self.real(host, port, *args, **kwargs)
        self.asked.append(name)
        answer = self.answers[name]
        if isinstance(answer, Exception):
            raise answer
        addresses = answer.pop(0) if isinstance(answer[0], list) else answer
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port, 0, 0) if ":" in a else (a, port),
            )
            for a in addresses
        ]


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A bare TCP port on 127.0.0.1 that tells whether anyone connected to it."""
    sock = socket.create_server(("127.0.0.1", 0))
    sock.settimeout(0.3)
    yield sock
    sock.close()


def nobody_connected(listener: socket.socket) -> bool:
    try:
        connection, _ = listener.accept()
    except TimeoutError:
        return True
    connection.close()
    return False


@pytest.mark.parametrize(
    "addresses",
    [["127.0.0.1"], ["10.1.2.3"], ["93.184.216.34", "127.0.0.1"], ["::ffff:127.0.0.1"]],
    ids=["loopback", "private", "one-private-among-public", "mapped-loopback"],
)
def test_a_name_resolving_to_a_private_address_is_refused_when_connecting(
    monkeypatch, listener, addresses
):
    port = listener.getsockname()[1]
    resolver = Resolver(monkeypatch, {"vendor.example": addresses})
    with GuardedSession(allow_private=False) as session:
        with pytest.raises(DestinationRefused) as refused:
            session.get(f"https://vendor.example:{port}/", timeout=2)
    assert "vendor.example" in refused.value.reason
    assert not any(a in refused.value.reason for a in addresses)  # no internal address shown
    assert resolver.asked == ["vendor.example"]
    assert nobody_connected(listener)


@pytest.mark.parametrize(
    "host", ["localhost.", "LOCALHOST.", "[64:ff9b::7f00:1]", "[2002:7f00:1::]", "127.0.0.1"]
)
def test_the_issue_s_destinations_are_refused_when_connecting(listener, host):
    port = listener.getsockname()[1]
    with GuardedSession(allow_private=False) as session:
        with pytest.raises(DestinationRefused):
            session.post(f"https://{host}:{port}/events", data=b"{}", timeout=2)
    assert nobody_connected(listener)


def test_plain_http_is_refused_without_the_private_setting(listener):
    port = listener.getsockname()[1]
    with GuardedSession(allow_private=False) as session:
        with pytest.raises(DestinationRefused, match="https"):
            session.get(f"http://127.0.0.1:{port}/", timeout=2)
    assert nobody_connected(listener)


def test_proxies_are_not_used(listener):
    port = listener.getsockname()[1]
    with GuardedSession(allow_private=True) as session:
        with pytest.raises(DestinationRefused, match="prox"):
            session.get(
                "https://8.8.8.8/", proxies={"https": f"http://127.0.0.1:{port}"}, timeout=2
            )
    assert nobody_connected(listener)


@pytest.fixture(scope="module")
def tls() -> Iterator[tuple[HTTPServer, str]]:
    """An https server on 127.0.0.1 whose certificate names only ``vendor.test``, and the
    file of the authority that signed it."""
    authority = trustme.CA()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert("vendor.test").configure_cert(context)
    server = HTTPServer(host="127.0.0.1", ssl_context=context)
    server.start()
    with authority.cert_pem.tempfile() as ca_file:
        yield server, ca_file
    server.clear()
    server.stop()


def test_the_connection_goes_to_the_checked_address_with_the_name_kept_for_tls(
    monkeypatch, tls
):
    """One lookup per connection, and the socket goes to what it answered: a second lookup
    would answer 127.0.0.2, where nothing listens. The certificate is verified for the name
    (SNI too), and the Host header is the name, although the socket was opened to an
    address."""
    server, ca_file = tls
    server.clear()
    server.expect_request("/ping").respond_with_data("pong")
    resolver = Resolver(
        monkeypatch,
        {"vendor.test": [["127.0.0.1"], ["127.0.0.2"]], "other.test": ["127.0.0.1"]},
    )
    with GuardedSession(allow_private=True) as session:
        answer = session.get(f"https://vendor.test:{server.port}/ping", verify=ca_file, timeout=5)
        assert answer.text == "pong"
        with pytest.raises(requests.exceptions.SSLError):  # a name the certificate lacks
            session.get(f"https://other.test:{server.port}/ping", verify=ca_file, timeout=5)
    assert resolver.asked == ["vendor.test", "other.test"]
    request, _ = server.log[0]
    assert request.headers["Host"] == f"vendor.test:{server.port}"


def test_a_rebinding_name_is_refused_whatever_it_answers_next(monkeypatch, listener):
    """First answer private, then public: refused on the first, and never asked twice."""
    port = listener.getsockname()[1]
    resolver = Resolver(monkeypatch, {"rebind.example": [["127.0.0.1"], ["93.184.216.34"]]})
    with GuardedSession(allow_private=False) as session:
        with pytest.raises(DestinationRefused):
            session.get(f"https://rebind.example:{port}/", timeout=2)
    assert resolver.asked == ["rebind.example"]
    assert nobody_connected(listener)


# --- Redirects --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_never_followed_even_when_asked(httpserver, status):
    httpserver.expect_request("/start").respond_with_handler(
        lambda request: Response("", status=status, headers={"Location": "/elsewhere"})
    )
    httpserver.expect_request("/elsewhere").respond_with_data("followed")
    with GuardedSession(allow_private=True) as session:
        answer = session.get(httpserver.url_for("/start"), allow_redirects=True, timeout=5)
    assert answer.status_code == status
    assert [request.path for request, _ in httpserver.log] == ["/start"]
