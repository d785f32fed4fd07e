"""Encrypted history (client/codec.py) against the real server: a promotion run by workers
whose client has the codec leaves no plaintext in the stored history; a client with the
keys reads it, also after rotation; the codec server decodes for Temporal Web; and
`gantry version`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client

from client.api import Gantry
from client.codec import EncryptionCodec, data_converter, generate_key_line, load_keys, parse_keys
from client.commands.codec_server import make_server, serve_in_thread
from client.settings import TemporalSettings
from client.worker import build_workers
from tests.conftest import WorkerHandle
from tests.integration.test_cli import gantry
from tests.integration.test_promotion import setup_project

pytestmark = pytest.mark.integration

KEY_A = generate_key_line("key-a")
KEY_B = generate_key_line("key-b")


@pytest.fixture
async def encrypted_worker(
    temporal_address: str, client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[WorkerHandle]:
    """Workers as the worker process builds them with GANTRY_CODEC_KEY set: their client
    comes from TemporalSettings.connect(), which picks the codec up."""
    monkeypatch.setenv("GANTRY_CODEC_KEY", KEY_A)
    monkeypatch.delenv("GANTRY_CODEC_KEYS_FILE", raising=False)
    monkeypatch.setenv("GANTRY_WORK_DIR", str(tmp_path / "work"))
    encrypted = await TemporalSettings(address=temporal_address, namespace="default").connect()
    assert isinstance(encrypted.data_converter.payload_codec, EncryptionCodec)
    suffix = uuid.uuid4().hex[:8]
    task_queue = f"gantry-test-{suffix}"
    workers = build_workers(encrypted, task_queue=task_queue, worker_id=f"test-{suffix}")
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        yield WorkerHandle(task_queue, f"test-{suffix}", tmp_path / "work", Gantry(encrypted, task_queue))
    finally:
        await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
        for task in tasks:
            task.cancel()


def _walk(message, payloads: list, path: str = "") -> None:
    """Every Payload in a proto message, leaving out search attributes: those are the
    workflow's indexed, visible fields (docs/security.md), never encoded by a codec."""
    from google.protobuf.descriptor import FieldDescriptor
    from temporalio.api.common.v1 import Payload, SearchAttributes

    if isinstance(message, SearchAttributes):
        return
    if isinstance(message, Payload):
        payloads.append((path, message))
        return
    for field, value in message.ListFields():
        if field.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        if field.message_type.GetOptions().map_entry:
            values = list(value.values())
        elif field.is_repeated:
            values = list(value)
        else:
            values = [value]
        for item in values:
            if hasattr(item, "ListFields"):
                _walk(item, payloads, f"{path}.{field.name}")


#: what sdk-core writes, unencoded, about each local activity
LOCAL_ACTIVITY_META = {
    "seq", "attempt", "activity_id", "activity_type", "complete_time", "backoff", "original_schedule_time",
    "activation_index",
}  # fmt: skip


async def stored_payloads(client: Client, workflow_id: str) -> tuple[list, bytes]:
    """The payloads of the stored history as the server has them (the client's codec plays
    no part in fetching history), and the history with its search attributes cleared."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    payloads: list = []
    for event in history.events:
        marker = event.marker_recorded_event_attributes
        if marker.marker_name == "core_patch":
            continue  # workflow.patched() ids, written by the SDK core itself: code, not data
        if marker.marker_name == "core_local_activity":
            # the SDK core's own record of a local activity (sequence, attempt, activity id and
            # type, times), as plain as an activity's type in ActivityTaskScheduled; its
            # result goes through the codec like any payload
            for meta in marker.details["data"].payloads:
                assert set(json.loads(meta.data)) <= LOCAL_ACTIVITY_META, meta.data
            marker.details["data"].ClearField("payloads")
        _walk(event, payloads, f"event {event.event_id}")
        for _, attributes in event.ListFields():
            if hasattr(attributes, "search_attributes"):
                attributes.ClearField("search_attributes")
    return payloads, b"".join(e.SerializeToString() for e in history.events)


async def test_promotion_history_is_encrypted_and_readable_with_the_keys(
    encrypted_worker: WorkerHandle, client: Client, temporal_address: str, tmp_path: Path, unique: str
) -> None:
    repo, project, freight = await setup_project(encrypted_worker, tmp_path, unique)
    handle = await encrypted_worker.gantry.promote(project, "dev", freight["alias"], actor="tester")
    status = await asyncio.wait_for(handle.result(), 60)
    assert status.phase == "Succeeded", status

    # with the codec: the status and the result read as usual
    read = await encrypted_worker.gantry.promotion_status(handle.id)
    assert read.phase == "Succeeded" and read.freight == freight["name"]

    # without it (the session's plain client): nothing readable in the stored history
    payloads, stored = await stored_payloads(client, handle.id)
    plain = [(path, p.data[:60]) for path, p in payloads if p.metadata.get("encoding") != b"binary/encrypted"]
    assert payloads and not plain, plain
    for secret in (freight["name"], freight["alias"], repo.url, "registry.test/app", "newTag", "1.2.3", "tester"):
        assert secret.encode() not in stored, f"{secret!r} is in the stored history in plaintext"
    # a client without the keys cannot make sense of the result
    plain_handle = client.get_workflow_handle(handle.id)
    with pytest.raises(Exception):
        await plain_handle.result()

    # the CLI with the key (GANTRY_CODEC_KEY, set for this test's processes): get and promote --wait
    name = handle.id.rsplit("/", 1)[-1]
    code, out = await gantry(temporal_address, encrypted_worker, "get", "promotion", name, "-p", project, "-o", "json")
    assert code == 0, out
    document = json.loads(out)
    assert document["status"]["phase"] == "Succeeded" and freight["name"] in out, document
    code, out = await gantry(temporal_address, encrypted_worker, "promote", "-p", project, "-s", "dev", "--freight", freight["alias"], "--wait")
    assert code == 0 and "Succeeded" in out, out

    # rotation: a key file listing B first and A second still reads the history written under A
    keys = tmp_path / "keys"
    keys.write_text(f"{KEY_B}\n{KEY_A}\n")
    ring = load_keys({"GANTRY_CODEC_KEYS_FILE": str(keys)})
    assert ring is not None and ring.current_id == "key-b"
    rotated = Client(client.service_client, namespace=client.namespace, data_converter=data_converter(EncryptionCodec(ring)))
    again = await Gantry(rotated, encrypted_worker.task_queue).promotion_status(handle.id)
    assert again.phase == "Succeeded" and again.freight == freight["name"]


def post(url: str, body: bytes, headers: dict[str, str], method: str = "POST") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body if method == "POST" else None, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


async def test_codec_server_decodes_as_temporal_web_asks() -> None:
    codec = EncryptionCodec(parse_keys(KEY_A, "test"))
    [sealed] = await codec.encode([data_converter().payload_converter.to_payloads([{"repoURL": "https://git.example/x.git"}])[0]])
    server = make_server(codec, port=0, web_origins=["http://localhost:8233"], token="s3cret")
    serve_in_thread(server)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        # the body Temporal Web sends: Payloads in protobuf JSON
        body = json.dumps({"payloads": json_format.MessageToDict(Payloads(payloads=[sealed]))["payloads"]}).encode()
        web = {"Content-Type": "application/json", "X-Namespace": "default", "Origin": "http://localhost:8233"}

        status, headers, answer = await asyncio.to_thread(post, f"{base}/decode", body, {**web, "Authorization": "Bearer s3cret"})
        assert status == 200, answer
        assert headers["Access-Control-Allow-Origin"] == "http://localhost:8233"
        decoded = Payloads()
        json_format.ParseDict(json.loads(answer), decoded)
        assert json.loads(decoded.payloads[0].data) == {"repoURL": "https://git.example/x.git"}
        assert decoded.payloads[0].metadata["encoding"] == b"json/plain"

        # also under a namespace, as a templated codec endpoint (`{namespace}`) asks
        status, _, same = await asyncio.to_thread(post, f"{base}/default/decode", body, {**web, "Authorization": "Bearer s3cret"})
        assert status == 200 and same == answer

        # encode answers payloads the decode reads back
        plain_body = json.dumps({"payloads": json.loads(answer)["payloads"]}).encode()
        status, _, encoded = await asyncio.to_thread(post, f"{base}/encode", plain_body, {**web, "Authorization": "Bearer s3cret"})
        assert status == 200 and b"YmluYXJ5L2VuY3J5cHRlZA" in encoded  # base64 of binary/encrypted

        status, _, answer = await asyncio.to_thread(post, f"{base}/decode", body, web)
        assert status == 401 and b"repoURL" not in answer
        status, _, _ = await asyncio.to_thread(post, f"{base}/decode", body, {**web, "Authorization": "Bearer wrong"})
        assert status == 401

        # the CORS preflight, without credentials, as a browser sends it
        preflight = {
            "Origin": "http://localhost:8233",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
        }
        status, headers, _ = await asyncio.to_thread(post, f"{base}/decode", b"", preflight, "OPTIONS")
        assert status == 200
        assert headers["Access-Control-Allow-Origin"] == "http://localhost:8233"
        allowed = {h.strip().lower() for h in headers["Access-Control-Allow-Headers"].split(",")}
        assert {"x-namespace", "authorization", "content-type"} <= allowed
        assert "POST" in headers["Access-Control-Allow-Methods"]
        # another origin is not allowed
        status, headers, _ = await asyncio.to_thread(post, f"{base}/decode", b"", {**preflight, "Origin": "http://evil.test"}, "OPTIONS")
        assert "Access-Control-Allow-Origin" not in headers

        # a payload under an unknown key: a clear 400 naming the id
        [other] = await EncryptionCodec(parse_keys(KEY_B, "other")).encode([sealed.__class__(metadata={"encoding": b"json/plain"}, data=b"1")])
        other_body = json.dumps({"payloads": json_format.MessageToDict(Payloads(payloads=[other]))["payloads"]}).encode()
        status, _, answer = await asyncio.to_thread(post, f"{base}/decode", other_body, {**web, "Authorization": "Bearer s3cret"})
        assert status == 400 and b"key-b" in answer and KEY_B.split(":", 1)[1].encode() not in answer
    finally:
        server.shutdown()
        server.server_close()


async def test_version_prints_gantry_sdk_and_server(temporal_address: str) -> None:
    async def version(address: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "client.cli", "--address", address, "version",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"},
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        return proc.returncode or 0, out.decode()

    from importlib.metadata import version as package_version

    code, out = await version(temporal_address)
    assert code == 0, out
    assert f"gantry {package_version('gantry')}" in out
    assert f"temporalio SDK {package_version('temporalio')}" in out
    server_line = [line for line in out.splitlines() if line.startswith("temporal server")]
    assert server_line and "not reachable" not in server_line[0] and temporal_address in server_line[0], out
    assert any(c.isdigit() for c in server_line[0].split(" at ")[0]), out

    from client.devserver import free_port

    code, out = await version(f"127.0.0.1:{free_port()}")
    assert code == 0, out
    assert "not reachable" in out and f"gantry {package_version('gantry')}" in out
