"""SSRF guard: a caller's ``fhirServer`` is called only when it is on that caller's list and resolves
to addresses the service may reach. Unit tests fake DNS; the app tests count requests on a real server."""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Any

import pytest

from service import create_app
from service.ssrf import (
    development_host_allowed,
    development_server_allowed,
    fhir_server_allowed,
    host_allowed,
    resolved_addresses,
    url_origin,
)
from tests.stub_server import empty_fhir, stub_server
from tests.tokens import ISSUER, bearer, claims, jwks, mint, signing_key

ALLOWED = ("https://fhir.example.org/r4",)


@pytest.fixture()
def dns(monkeypatch) -> dict[str, list[str]]:
    """Fake DNS: host -> addresses; IP literals resolve to themselves, anything else does not resolve."""
    table: dict[str, list[str]] = {"fhir.example.org": ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]}
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host in table:
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, 0)) for a in table[host]]
        if re.search(r"[g-wyz]", host.lower()):  # a DNS name (not a numeric form like 0x7f000001): unknown here
            raise socket.gaierror(socket.EAI_NONAME, "not in the test's DNS")
        return real(host, port, *args, **kwargs)  # numeric forms: the C library reads them as it would for requests

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


def test_a_listed_public_server_passes(dns):
    assert fhir_server_allowed("https://fhir.example.org/r4", ALLOWED)
    assert fhir_server_allowed("https://fhir.example.org/r4/", ALLOWED)  # trailing slash ignored


@pytest.mark.parametrize(
    "url",
    [
        "https://fhir.example.org/r4/Patient",  # not the base URL
        "https://fhir.example.org/r",
        "https://fhir.example.org:8443/r4",
        "http://fhir.example.org/r4",
        "https://fhir.example.org@evil.test/r4",  # user info: the host is evil.test
        "https://fhir.example.org.evil.test/r4",
        "https://evil.test/r4?https://fhir.example.org/r4",
        "file:///etc/passwd",
    ],
)
def test_anything_but_the_listed_base_is_refused(dns, url):
    assert not fhir_server_allowed(url, ALLOWED)


@pytest.mark.parametrize("addresses", [["169.254.169.254"], ["10.1.2.3"], ["93.184.215.14", "192.168.0.7"], ["fd00::1"], ["::1"]])
def test_a_listed_name_resolving_inwards_is_refused(dns, addresses):
    dns["fhir.example.org"] = addresses
    assert not fhir_server_allowed("https://fhir.example.org/r4", ALLOWED)


def test_an_explicitly_listed_private_network_passes(dns):
    dns["fhir.example.org"] = ["10.20.30.40"]
    assert fhir_server_allowed("https://fhir.example.org/r4", ALLOWED, [ipaddress.ip_network("10.20.0.0/16")])
    assert not fhir_server_allowed("https://fhir.example.org/r4", ALLOWED, [ipaddress.ip_network("10.99.0.0/16")])


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:169.254.169.254]/fhir",
        "http://[::ffff:a9fe:a9fe]/fhir",
        "http://2852039166/fhir",  # 169.254.169.254 as one decimal number
        "http://0251.0376.0251.0376/fhir",  # octal
        "http://0x7f000001/fhir",  # 127.0.0.1 in hex
        "http://127.1/fhir",
        "http://[fe80::1]/fhir",
        "http://0.0.0.0/fhir",
        "http://100.64.0.1/fhir",  # shared address space (carrier-grade NAT)
        "http://224.0.0.1/fhir",
        "http://unresolvable.invalid/fhir",
    ],
)
def test_non_public_addresses_are_refused_even_when_listed(dns, url):
    assert not host_allowed(url)
    assert not fhir_server_allowed(url, [url])


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2852039166", "169.254.169.254"),
        ("0251.0376.0251.0376", "169.254.169.254"),
        ("0x7f000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("::ffff:a9fe:a9fe", "169.254.169.254"),
    ],
)
def test_odd_address_spellings_are_judged_as_the_address_they_reach(dns, host, address):
    assert resolved_addresses(host) == [ipaddress.ip_address(address)]


def test_user_info_is_refused_even_when_listed(dns):
    url = "https://fhir.example.org@evil.test/r4"
    dns["evil.test"] = ["93.184.215.99"]
    assert host_allowed("https://evil.test/r4")  # evil.test is public...
    assert not host_allowed(url)  # ...but a URL with user info is never called, whatever the list says
    assert not fhir_server_allowed(url, [url])


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.2:9\\@fhir.example.org/r4",  # urllib3 connects to 127.0.0.2, urlsplit reads fhir.example.org
        "http://evil.test\\@fhir.example.org/r4",
        "http://fhir.example.org /r4",
        "http://fhir.example.org\t/r4",
        "http://fhir.example.org\n.evil.test/r4",
        "http://fhir.example.org\x00.evil.test/r4",
        "http://user:pw@fhir.example.org/r4",
        "http://fhir.example.org:99999/r4",
    ],
)
def test_urls_parsers_read_differently_are_refused(dns, url):
    """Judged by the parser requests connects with: no backslash, @, whitespace or control characters."""
    assert url_origin(url) is None
    assert not host_allowed(url)
    assert not fhir_server_allowed(url, [url])
    assert not development_host_allowed(url, [url], allow_loopback=True)


def test_the_origin_is_what_urllib3_connects_to(dns):
    assert url_origin("https://FHIR.example.org/r4?x=1") == ("https", "fhir.example.org", 443)
    assert url_origin("http://[::1]:8090/fhir") == ("http", "::1", 8090)


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254 (cloud metadata)
        "64:ff9b:1::a00:1",  # local-use NAT64
        "2002:a00:1::",  # 6to4 of 10.0.0.1
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "::a00:1",  # IPv4-compatible 10.0.0.1
        "::7f00:1",  # IPv4-compatible 127.0.0.1
        "::ffff:0:a00:1",  # SIIT 10.0.0.1
        "::ffff:a9fe:a9fe",  # IPv4-mapped 169.254.169.254
    ],
)
def test_ipv6_forms_carrying_a_private_ipv4_are_judged_as_it(dns, address):
    dns["fhir.example.org"] = [address]
    assert not host_allowed("https://fhir.example.org/r4")
    assert not fhir_server_allowed("https://fhir.example.org/r4", ALLOWED)


@pytest.mark.parametrize("address", ["64:ff9b::808:808", "2002:808:808::1", "::ffff:0:808:808"])
def test_ipv6_forms_carrying_a_public_ipv4_pass(dns, address):
    dns["fhir.example.org"] = [address]
    assert host_allowed("https://fhir.example.org/r4")


def test_development_mode_keeps_loopback_and_the_listed_servers(dns):
    assert development_server_allowed("http://127.0.0.1:8090/fhir", (), allow_loopback=True)
    assert development_server_allowed("http://[::1]:8090/fhir", (), allow_loopback=True)
    assert not development_server_allowed("http://127.0.0.1:8090/fhir", (), allow_loopback=False)
    assert not development_server_allowed("http://169.254.169.254/fhir", (), allow_loopback=True)
    assert not development_server_allowed("http://127.0.0.1@169.254.169.254/fhir", (), allow_loopback=True)
    assert development_server_allowed("https://fhir.example.org/r4", ALLOWED, allow_loopback=False)


# --- the app: a real FHIR stub on 127.0.0.1 counts whether a request left the service -------------


def secured_app(tmp_path, clients: list[dict[str, Any]]):
    settings = {"database_url": f"sqlite:///{tmp_path}/f.sqlite3", "evaluation_date": "2026-06-01", "clients": clients}
    return create_app({**settings, "public_base_url": "http://localhost"})


def hook_call(app, fhir_server: str, issuer: str = ISSUER, key_serial: int = 0):
    body = {
        "hook": "patient-view",
        "hookInstance": "ssrf-1",
        "fhirServer": fhir_server,
        "fhirAuthorization": {"access_token": "fhir-token-ssrf", "token_type": "Bearer", "scope": "patient/*.read"},
        "context": {"patientId": "ssrf-patient"},
    }
    token = mint(signing_key(serial=key_serial), claims(iss=issuer))
    return app.test_client().post("/cds-services/her2-mbc-guidance", json=body, headers=bearer(token))


def client(issuer: str, fhir_servers: list[str], serial: int = 0, **extra: Any) -> dict[str, Any]:
    return {"issuer": issuer, "jwks": jwks(signing_key(serial=serial)), "fhir_servers": fhir_servers, **extra}


def test_a_listed_loopback_server_is_called_only_with_its_network_listed(tmp_path):
    patient = {"resourceType": "Patient", "id": "ssrf-patient", "gender": "female"}
    with stub_server() as ehr:
        base = empty_fhir(ehr, patient=patient)
        refused = secured_app(tmp_path / "a", [client(ISSUER, [base])])
        response = hook_call(refused, base)
        assert response.status_code == 412  # required data not prefetched, and the server may not be called
        assert ehr.total() == 0
        allowed = secured_app(tmp_path / "b", [client(ISSUER, [base], private_networks=["127.0.0.0/8"])])
        response = hook_call(allowed, base)
        assert response.status_code == 200, response.json
        assert ehr.hits["/fhir/Condition"] == 1
        assert all(headers.get("Authorization") == "Bearer fhir-token-ssrf" for _path, headers in ehr.requests)


def test_another_issuers_fhir_server_is_not_called(tmp_path):
    other = "https://other-ehr.example.org"
    with stub_server() as ehr:
        base = empty_fhir(ehr)
        app = secured_app(
            tmp_path,
            [
                client(ISSUER, ["https://fhir.example.org/r4"], private_networks=["127.0.0.0/8"]),
                client(other, [base], serial=1, private_networks=["127.0.0.0/8"]),
            ],
        )
        assert hook_call(app, base).status_code == 412  # ISSUER names the other EHR's server
        assert ehr.total() == 0
        assert hook_call(app, base, issuer=other, key_serial=1).status_code == 200
        assert ehr.total() > 0


def test_prefetch_only_calls_still_work_with_an_unlisted_server(tmp_path, knowledge):
    from tests.conftest import her2_positive_liver_patient, prefetch_for

    with stub_server() as ehr:
        base = empty_fhir(ehr)
        app = secured_app(tmp_path, [client(ISSUER, ["https://fhir.example.org/r4"])])
        prefetch = prefetch_for(her2_positive_liver_patient(), app.extensions["her2cds"].templates, knowledge)
        body = {"hook": "patient-view", "hookInstance": "ssrf-2", "fhirServer": base, "context": {"patientId": "p1"}}
        body["prefetch"] = prefetch
        response = app.test_client().post("/cds-services/her2-mbc-guidance", json=body, headers=bearer(mint(signing_key())))
        assert response.status_code == 200
        assert ehr.total() == 0
