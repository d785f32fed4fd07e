"""argocd-health honours GANTRY_ARGOCD_INSECURE exactly as argocd-update does: against an Argo
CD with a self-signed certificate it fails unless TLS verification is turned off, and with
it off it sends the stored token only when the credential allows it (insecureSkipTLSVerify)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from activities.argocd_health import argocd_health  # noqa: E402
from activities.steps.base import STEP_FAILED  # noqa: E402
from tests.fakes.argocd import FakeArgoCD  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the self-signed certificate")

env = ActivityEnvironment()
CHECK = [{"name": "app-uat", "namespace": "argocd"}]


@pytest.fixture
def tls_argocd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    fake = FakeArgoCD().start(tls=ctx)
    fake.add_app("app-uat")
    for var in ("GANTRY_CREDENTIALS_FILE", "GANTRY_ARGOCD_NAMESPACE", "GANTRY_ARGOCD_INSECURE", "SSL_CERT_FILE",
                "GANTRY_ARGOCD_CREDENTIALS_1_INSECURE_SKIP_TLS_VERIFY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GANTRY_ARGOCD_URL", fake.url)
    monkeypatch.setenv("GANTRY_ARGOCD_CREDENTIALS_1_URL", fake.url)
    monkeypatch.setenv("GANTRY_ARGOCD_CREDENTIALS_1_TOKEN", fake.token)
    yield fake
    fake.stop()


async def test_verification_on_refuses_a_self_signed_argocd(tls_argocd: FakeArgoCD) -> None:
    with pytest.raises(Exception) as e:
        await env.run(argocd_health, CHECK)
    assert "CERTIFICATE_VERIFY_FAILED" in str(e.value) or "certificate verify failed" in str(e.value), repr(e.value)


async def test_insecure_needs_the_credential_to_allow_it(tls_argocd: FakeArgoCD, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANTRY_ARGOCD_INSECURE", "true")
    with pytest.raises(ApplicationError) as e:
        await env.run(argocd_health, CHECK)
    said = str(e.value)
    assert e.value.type == STEP_FAILED and ("insecureSkipTLSVerify" in said or "INSECURE_SKIP_TLS_VERIFY" in said), said
    assert tls_argocd.token not in said


async def test_insecure_with_the_credentials_opt_in_reads_the_app(tls_argocd: FakeArgoCD, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANTRY_ARGOCD_INSECURE", "true")
    monkeypatch.setenv("GANTRY_ARGOCD_CREDENTIALS_1_INSECURE_SKIP_TLS_VERIFY", "true")
    result = await env.run(argocd_health, CHECK)
    assert result["status"] == "Healthy", result
