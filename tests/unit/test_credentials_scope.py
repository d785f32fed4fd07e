"""Where a stored credential may go: URL matching after dot segments and escapes, exact
origins, the proxy / TLS-off opt-ins, OCI token realms, and URL redaction."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities import credentials  # noqa: E402
from activities.oci import Reference, realm_allowed  # noqa: E402


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for k in list(os.environ):
        if k.startswith("GANTRY_") and "CREDENTIALS" in k:
            monkeypatch.delenv(k)
    return monkeypatch


@pytest.fixture
def org_a(clean_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    clean_env.setenv("GANTRY_HTTP_CREDENTIALS_A_URL", "https://h.example/org-a")
    clean_env.setenv("GANTRY_HTTP_CREDENTIALS_A_TOKEN", "tok-a")
    return clean_env


@pytest.mark.parametrize(
    "url",
    [
        "https://h.example/org-a/../org-b",
        "https://h.example/org-a/./../org-b/x",
        "https://h.example/org-a/%2e%2e/org-b",
        "https://h.example/org-a/%2E%2E/org-b",
        "https://h.example/org-a/.%2e/org-b",
        "https://h.example/org-a/..%2Forg-b",  # encoded "/": ambiguous, never matches a path
        "https://h.example/org-a/..%2forg-b",
        "https://h.example/org-a/..%5Corg-b",
        "https://h.example/org-a/..\\org-b",
        "https://h.example/org-a/..;/org-b",  # Tomcat-style path parameter on a dot segment
        "https://h.example/org-a//../org-b",  # servers that merge "//" first resolve to /org-b
        "https://h.example/org-a%2F..%2Forg-b",
        "http://h.example/org-a/x",  # scheme
        "https://h.example:8443/org-a/x",  # port
        "https://h.example.evil/org-a/x",  # host
        "https://h.example@evil.example/org-a/x",  # userinfo, not the host
        "https://h.example\\@evil.example/org-a/x",
        "https://h.example/org-ab",  # segment boundary
    ],
)
def test_path_credential_is_not_sent_outside_its_prefix(org_a: pytest.MonkeyPatch, url: str) -> None:
    assert credentials.lookup(url, "http") is None


@pytest.mark.parametrize(
    "url",
    [
        "https://h.example/org-a",
        "https://h.example/org-a/",
        "https://h.example/org-a/repo.git",
        "https://H.EXAMPLE/org-a/x?q=1",
        "https://h.example:443/org-a/x",  # the default port is the same origin
        "https://h.example/org-b/../org-a/x",
        "https://h.example/%6Frg-a/x",  # unreserved escape decoded
        "https://h.example/org-a//x",
        "https://user:p@ss@h.example/org-a/x",
    ],
)
def test_path_credential_matches_inside_its_prefix(org_a: pytest.MonkeyPatch, url: str) -> None:
    found = credentials.lookup(url, "http")
    assert found is not None and found.password == "tok-a"


def test_host_wide_credential_still_matches_ambiguous_paths(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("GANTRY_HTTP_CREDENTIALS_H_URL", "https://h.example/")
    clean_env.setenv("GANTRY_HTTP_CREDENTIALS_H_TOKEN", "tok-h")
    assert credentials.lookup("https://h.example/api/v4/projects/org%2Frepo", "http").password == "tok-h"
    assert credentials.lookup("http://h.example/x", "http") is None


def test_regex_credential_sees_the_resolved_url(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("GANTRY_HTTP_CREDENTIALS_R_URL_REGEX", r"^https://h\.example/org-a/")
    clean_env.setenv("GANTRY_HTTP_CREDENTIALS_R_TOKEN", "tok-r")
    assert credentials.lookup("https://h.example/org-a/x", "http").password == "tok-r"
    assert credentials.lookup("https://h.example/org-a/../org-b/x", "http") is None
    assert credentials.lookup("https://h.example/org-a/%2e%2e/org-b/x", "http") is None
    assert credentials.lookup("https://h.example/org-a/..%2Forg-b/x", "http") is None


def test_opt_ins_from_env_and_file(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("GANTRY_HTTP_CREDENTIALS_1_URL", "https://env.example/")
    clean_env.setenv("GANTRY_HTTP_CREDENTIALS_1_TOKEN", "t")
    plain = credentials.lookup("https://env.example/x", "http")
    assert (plain.proxy, plain.insecure_skip_tls_verify, plain.token_realms) == (False, False, ())
    clean_env.setenv("GANTRY_HTTP_CREDENTIALS_1_PROXY", "true")
    clean_env.setenv("GANTRY_HTTP_CREDENTIALS_1_INSECURE_SKIP_TLS_VERIFY", "TRUE")
    clean_env.setenv("GANTRY_HTTP_CREDENTIALS_1_TOKEN_REALMS", "https://auth.example/token, https://b.example/jwt")
    c = credentials.lookup("https://env.example/x", "http")
    assert (c.proxy, c.insecure_skip_tls_verify) == (True, True)
    assert c.token_realms == ("https://auth.example/token", "https://b.example/jwt")
    assert c.password == "t"  # _TOKEN_REALMS is not _TOKEN
    clean_env.setenv("GANTRY_HTTP_CREDENTIALS_1_PROXY", "maybe")
    with pytest.raises(credentials.CredentialsError, match="_PROXY: expected true or false"):
        credentials.lookup("https://env.example/x", "http")
    clean_env.delenv("GANTRY_HTTP_CREDENTIALS_1_PROXY")
    clean_env.setenv("GANTRY_HTTP_CREDENTIALS_1_TOKEN_REALMS", "http://auth.example/token")
    with pytest.raises(credentials.CredentialsError, match="never plain http"):
        credentials.lookup("https://env.example/x", "http")
    clean_env.delenv("GANTRY_HTTP_CREDENTIALS_1_TOKEN_REALMS")

    f = tmp_path / "creds.yaml"
    f.write_text(
        "credentials:\n"
        "- url: https://file.example/\n  type: image\n  username: u\n  password: p\n"
        "  proxy: true\n  insecureSkipTLSVerify: true\n  tokenRealms: [https://auth.file.example/]\n"
        "- url: https://file2.example/\n  type: image\n  username: u\n  password: p\n"
    )
    clean_env.setenv("GANTRY_CREDENTIALS_FILE", str(f))
    c = credentials.lookup("https://file.example/r", "image")
    assert (c.proxy, c.insecure_skip_tls_verify, c.token_realms) == (True, True, ("https://auth.file.example/",))
    c2 = credentials.lookup("https://file2.example/r", "image")
    assert (c2.proxy, c2.insecure_skip_tls_verify, c2.token_realms) == (False, False, ())
    f.write_text("credentials:\n- url: https://x/\n  insecureSkipTLSVerify: sometimes\n")
    with pytest.raises(credentials.CredentialsError, match=r"credentials\[0\]\.insecureSkipTLSVerify"):
        credentials.lookup("https://x/")


def test_check_tls_names_the_opt_in(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("GANTRY_HTTP_CREDENTIALS_7_URL", "https://h.example/")
    clean_env.setenv("GANTRY_HTTP_CREDENTIALS_7_TOKEN", "secret-token")
    c = credentials.lookup("https://h.example/x", "http")
    credentials.check_tls(c, "https://h.example/x", verify=True)
    credentials.check_tls(None, "https://h.example/x", verify=False)
    with pytest.raises(credentials.CredentialScopeError) as e:
        credentials.check_tls(c, "https://h.example/x", verify=False)
    assert "GANTRY_HTTP_CREDENTIALS_7_INSECURE_SKIP_TLS_VERIFY=true" in str(e.value)
    assert "secret-token" not in str(e.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://u:p@ss@host/x", "https://host/x"),
        ("https://u:p@ss@w@rd@host:8443/x?y=1", "https://host:8443/x?y=1"),
        ("https://token@host", "https://host"),
        ("https://host/a@b", "https://host/a@b"),
        ("clone of https://u:p@x@h/r failed; see http://a:b@c/d", "clone of https://h/r failed; see http://c/d"),
        ("https://host/x", "https://host/x"),
    ],
)
def test_redact_url_hides_the_whole_userinfo(url: str, shown: str) -> None:
    assert credentials.redact_url(url) == shown
    assert credentials.normalize_url("https://u:p@ss@host/x") == "https://host/x"


def test_token_realm_rules() -> None:
    loop = Reference("127.0.0.1:5000", "team/app")  # plain http (loopback)
    hub = Reference("docker.io", "library/nginx")
    corp = Reference("registry.example.com", "team/app")  # https
    gitlab = credentials.Credentials("u", "p", token_realms=("https://gitlab.example.com/jwt/auth",))
    assert realm_allowed(loop, None, "http://127.0.0.1:5001/token")  # same host, the registry's own scheme
    assert not realm_allowed(loop, None, "http://127.0.0.2:5001/token")  # another host over plain http
    assert not realm_allowed(loop, None, "http://localhost:5001/token")
    assert realm_allowed(corp, None, "https://registry.example.com/token")
    assert realm_allowed(corp, None, "https://registry.example.com:8443/token")
    assert not realm_allowed(corp, None, "http://registry.example.com/token")  # downgrade
    assert not realm_allowed(corp, None, "https://evil.example/token")
    assert not realm_allowed(corp, None, "https://u:p@registry.example.com/token")
    assert not realm_allowed(corp, None, "file:///etc/passwd")
    assert realm_allowed(corp, gitlab, "https://gitlab.example.com/jwt/auth?x=1")
    assert not realm_allowed(corp, gitlab, "https://gitlab.example.com/jwt/authx")
    assert not realm_allowed(corp, gitlab, "https://gitlab.example.com/jwt/auth/../../evil")
    assert not realm_allowed(corp, gitlab, "http://gitlab.example.com/jwt/auth")
    assert realm_allowed(hub, None, "https://auth.docker.io/token")
    assert not realm_allowed(corp, None, "https://auth.docker.io/token")
