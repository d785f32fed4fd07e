"""The payload codec of encrypted history (client/codec.py): round trip, key ids, rotation,
tampering, and no key material in any error."""

from __future__ import annotations

import base64

import pytest
from temporalio.api.common.v1 import Payload

from client.codec import (
    ENCODING,
    KEY_ID_METADATA,
    CodecError,
    EncryptionCodec,
    KeyRing,
    data_converter,
    generate_key_line,
    load_keys,
    parse_keys,
)

KEY_A = generate_key_line("key-a")
KEY_B = generate_key_line("key-b")
SECRETS = [line.split(":", 1)[1] for line in (KEY_A, KEY_B)]


def codec(*lines: str) -> EncryptionCodec:
    return EncryptionCodec(parse_keys("\n".join(lines), "test keys"))


def plain(text: str = '{"freight":"abc123","repoURL":"https://git.example/secret.git"}') -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


def assert_no_key_material(message: str) -> None:
    for secret in SECRETS:
        assert secret not in message
        assert base64.b64decode(secret).hex() not in message


async def test_round_trip_hides_the_payload_and_names_the_key() -> None:
    c = codec(KEY_A)
    [sealed] = await c.encode([plain()])
    assert sealed.metadata["encoding"] == ENCODING == b"binary/encrypted"
    assert sealed.metadata[KEY_ID_METADATA] == b"key-a"
    assert b"abc123" not in sealed.SerializeToString() and b"git.example" not in sealed.SerializeToString()
    assert await c.decode([sealed]) == [plain()]
    # a fresh nonce each time
    [again] = await c.encode([plain()])
    assert again.data != sealed.data


async def test_rotation_reads_old_payloads_and_writes_with_the_first_key() -> None:
    [old] = await codec(KEY_A).encode([plain("old")])
    rotated = codec(KEY_B, KEY_A)
    assert await rotated.decode([old]) == [plain("old")]
    [new] = await rotated.encode([plain("new")])
    assert new.metadata[KEY_ID_METADATA] == b"key-b"


async def test_unknown_key_id_is_named_and_no_key_is_shown() -> None:
    [sealed] = await codec(KEY_A).encode([plain()])
    with pytest.raises(CodecError, match="key id 'key-a'") as caught:
        await codec(KEY_B).decode([sealed])
    assert "key-b" in str(caught.value)  # the configured ids, to compare
    assert_no_key_material(str(caught.value))


async def test_tampered_ciphertext_fails_clearly() -> None:
    c = codec(KEY_A)
    [sealed] = await c.encode([plain()])
    data = bytearray(sealed.data)
    data[-1] ^= 1
    tampered = Payload(metadata=dict(sealed.metadata), data=bytes(data))
    with pytest.raises(CodecError, match="failed authentication: the ciphertext was altered") as caught:
        await c.decode([tampered])
    assert_no_key_material(str(caught.value))
    # the key id is authenticated too: relabelling a payload fails the same way
    same_key_as_b = "key-b:" + KEY_A.split(":", 1)[1]
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID_METADATA: b"key-b"}, data=sealed.data)
    with pytest.raises(CodecError, match="key id 'key-b' failed authentication"):
        await codec(same_key_as_b).decode([relabelled])
    # truncated
    with pytest.raises(CodecError, match="truncated"):
        await c.decode([Payload(metadata=dict(sealed.metadata), data=b"short")])


async def test_other_payloads_pass_through() -> None:
    c = codec(KEY_A)
    foreign = Payload(metadata={"encoding": ENCODING, "other-codec-key": b"x"}, data=b"opaque")
    assert await c.decode([plain(), foreign]) == [plain(), foreign]
    [sealed] = await c.encode([plain()])
    assert await c.encode([sealed, foreign]) == [sealed, foreign]  # never sealed twice


def test_key_sources(tmp_path, monkeypatch) -> None:
    assert load_keys({}) is None
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"# rotated 2026\n{KEY_B}\n\n{KEY_A}\n")
    ring = load_keys({"GANTRY_CODEC_KEYS_FILE": str(keys_file), "GANTRY_CODEC_KEY": KEY_A})
    assert ring is not None and ring.ids == ["key-b", "key-a"] and ring.current_id == "key-b"
    single = load_keys({"GANTRY_CODEC_KEY": KEY_A})
    assert single is not None and single.ids == ["key-a"]
    assert_no_key_material(repr(ring))
    assert_no_key_material(repr(EncryptionCodec(ring)))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "has no keys"),
        ("no-colon", "expected KEY-ID:BASE64-KEY"),
        (":" + KEY_A.split(":", 1)[1], "expected KEY-ID:BASE64-KEY"),
        ("short:" + base64.b64encode(b"x" * 16).decode(), "'short' is 16 bytes, AES-256 needs 32"),
        ("bad:" + KEY_A.split(":", 1)[1][:-3] + "!!!", "'bad' is not valid base64"),
        (KEY_A + "\n" + KEY_A, "line 2: the key id 'key-a' is listed twice"),
    ],
)
def test_bad_key_files_say_what_is_wrong_without_the_key(text: str, message: str) -> None:
    with pytest.raises(CodecError, match=message) as caught:
        parse_keys(text, "keys.txt")
    assert_no_key_material(str(caught.value))


def test_missing_key_file(tmp_path) -> None:
    with pytest.raises(CodecError, match="cannot read the key file"):
        load_keys({"GANTRY_CODEC_KEYS_FILE": str(tmp_path / "absent")})


def test_data_converter_keeps_the_pydantic_converter(monkeypatch) -> None:
    monkeypatch.delenv("GANTRY_CODEC_KEYS_FILE", raising=False)
    monkeypatch.delenv("GANTRY_CODEC_KEY", raising=False)
    from temporalio.contrib.pydantic import pydantic_data_converter

    assert data_converter() is pydantic_data_converter  # no keys configured: as before
    converter = data_converter(codec(KEY_A))
    assert converter.payload_converter_class is pydantic_data_converter.payload_converter_class
    assert isinstance(converter.payload_codec, EncryptionCodec)
    assert KeyRing((("x", b"k" * 32),)).ids == ["x"]
