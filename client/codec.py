"""Encrypted history: an optional Temporal PayloadCodec with AES-256-GCM.

Keys come from a file named by `GANTRY_CODEC_KEYS_FILE` (one `key-id:base64-of-32-bytes`
a line; the first line's key encrypts, the others only decrypt) or, without a file, from
`GANTRY_CODEC_KEY` (`key-id:base64-of-32-bytes`). Neither set: no codec, payloads are
stored as Gantry's payload converter writes them (plain JSON).

Each encrypted payload is the serialized original Payload, sealed with AES-256-GCM under a
random 96-bit nonce (stored in front of the ciphertext) with the key id as associated
data; its metadata says `encoding: binary/encrypted` and `encryption-key-id: <id>`, so
decode picks the key by id and a history written under an older key stays readable as
long as the key file still lists that key. Errors name key ids, files and line numbers,
never key material.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

KEYS_FILE_ENV = "GANTRY_CODEC_KEYS_FILE"
KEY_ENV = "GANTRY_CODEC_KEY"
ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_SIZE = 12
KEY_SIZE = 32


class CodecError(ValueError):
    """A key that cannot be loaded or a payload that cannot be decrypted; the message names
    key ids and where keys came from, never the keys."""


@dataclass(frozen=True)
class KeyRing:
    """Keys by id, in order: the first encrypts."""

    keys: tuple[tuple[str, bytes], ...]
    source: str = ""
    _by_id: dict[str, bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise CodecError(f"no encryption keys in {self.source or 'the key ring'}")
        object.__setattr__(self, "_by_id", dict(self.keys))

    def __repr__(self) -> str:  # never the keys themselves
        return f"KeyRing(ids={self.ids!r}, source={self.source!r})"

    @property
    def ids(self) -> list[str]:
        return [key_id for key_id, _ in self.keys]

    @property
    def current_id(self) -> str:
        return self.keys[0][0]

    def key(self, key_id: str) -> bytes | None:
        return self._by_id.get(key_id)


def parse_key_line(line: str, where: str) -> tuple[str, bytes]:
    """`key-id:base64` into (id, 32 bytes); a CodecError naming `where` (and the id) if not."""
    key_id, sep, encoded = line.strip().partition(":")
    key_id = key_id.strip()
    if not sep or not key_id:
        raise CodecError(f"{where}: expected KEY-ID:BASE64-KEY")
    if any(c.isspace() for c in key_id):
        raise CodecError(f"{where}: the key id {key_id!r} has whitespace in it")
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise CodecError(f"{where}: the key of {key_id!r} is not valid base64") from None
    if len(key) != KEY_SIZE:
        raise CodecError(f"{where}: the key of {key_id!r} is {len(key)} bytes, AES-256 needs {KEY_SIZE}")
    return key_id, key


def parse_keys(text: str, source: str) -> KeyRing:
    """The lines of a key file (blank lines and `#` comments skipped)."""
    keys: list[tuple[str, bytes]] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key_id, key = parse_key_line(line, f"{source} line {number}")
        if key_id in seen:
            raise CodecError(f"{source} line {number}: the key id {key_id!r} is listed twice")
        seen.add(key_id)
        keys.append((key_id, key))
    if not keys:
        raise CodecError(f"{source} has no keys (lines KEY-ID:BASE64-KEY, the first one encrypts)")
    return KeyRing(tuple(keys), source)


def load_keys(environ: Mapping[str, str] | None = None) -> KeyRing | None:
    """The configured keys, or None when encryption is not configured."""
    env = os.environ if environ is None else environ
    path = env.get(KEYS_FILE_ENV)
    if path:
        try:
            text = Path(path).read_text()
        except OSError as err:
            raise CodecError(f"{KEYS_FILE_ENV}={path}: cannot read the key file ({err.strerror})") from None
        return parse_keys(text, path)
    single = env.get(KEY_ENV)
    if single:
        return KeyRing((parse_key_line(single, KEY_ENV),), KEY_ENV)
    return None


def generate_key_line(key_id: str) -> str:
    """A new `key-id:base64` line with a random key (for docs and tests)."""
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_SIZE)).decode()}"


def _metadata_text(payload: Payload, name: str) -> str | None:
    value = payload.metadata.get(name)
    return value.decode("utf-8", "replace") if value is not None else None


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over whole payloads; see the module docstring."""

    def __init__(self, keys: KeyRing) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self.keys = keys
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.keys}

    def __repr__(self) -> str:
        return f"EncryptionCodec(ids={self.keys.ids!r})"

    @staticmethod
    def is_encrypted(payload: Payload) -> bool:
        return payload.metadata.get("encoding") == ENCODING

    def encrypt(self, payload: Payload) -> Payload:
        if self.is_encrypted(payload):  # already sealed (by us or another codec): as it is
            return payload
        key_id = self.keys.current_id
        nonce = os.urandom(NONCE_SIZE)
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode()},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        if not self.is_encrypted(payload):  # plain (written without a codec): as it is
            return payload
        key_id = _metadata_text(payload, KEY_ID_METADATA)
        if key_id is None:  # encrypted, but not by this codec: as it is
            return payload
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise CodecError(
                f"payload encrypted with key id {key_id!r}, which is not among the configured keys "
                f"{self.keys.ids} ({self.keys.source}): add that key to decrypt it"
            )
        from cryptography.exceptions import InvalidTag

        data = payload.data
        if len(data) < NONCE_SIZE + 16:
            raise CodecError(f"payload encrypted with key id {key_id!r} is truncated ({len(data)} bytes)")
        try:
            plain = cipher.decrypt(data[:NONCE_SIZE], data[NONCE_SIZE:], key_id.encode())
        except InvalidTag:
            raise CodecError(
                f"payload encrypted with key id {key_id!r} failed authentication: the ciphertext was "
                f"altered, or the key listed under {key_id!r} is not the one that encrypted it"
            ) from None
        decoded = Payload()
        decoded.ParseFromString(plain)
        return decoded

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]


def configured_codec(environ: Mapping[str, str] | None = None) -> EncryptionCodec | None:
    keys = load_keys(environ)
    return EncryptionCodec(keys) if keys else None


def data_converter(codec: PayloadCodec | None = None):
    """Gantry's pydantic data converter, with `codec` (the configured one by default) when
    there is one."""
    import dataclasses

    from temporalio.contrib.pydantic import pydantic_data_converter

    codec = codec if codec is not None else configured_codec()
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(pydantic_data_converter, payload_codec=codec)
