"""`gantry codec-server`: Temporal's codec-server protocol over the configured keys, so
Temporal Web can show encrypted histories.

`POST /encode` and `POST /decode` (also under a namespace, `/NAMESPACE/decode`) take and answer `{"payloads": [...]}` in protobuf's JSON
form (metadata values and data base64). CORS for the Web's origin (preflight included);
with a token, every POST needs `Authorization: Bearer <token>`.
"""

from __future__ import annotations

import hmac
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import typer

from client.codec import CodecError, EncryptionCodec

MAX_BODY = 64 * 1024 * 1024
ALLOWED_HEADERS = "Content-Type, X-Namespace, Authorization"


def _payloads_from_json(body: bytes):
    from google.protobuf import json_format
    from temporalio.api.common.v1 import Payloads

    document = json.loads(body or b"{}")
    if not isinstance(document, dict):
        raise ValueError('expected {"payloads": [...]}')
    message = Payloads()
    json_format.ParseDict({"payloads": document.get("payloads") or []}, message)
    return list(message.payloads)


def _payloads_to_json(payloads) -> bytes:
    from google.protobuf import json_format
    from temporalio.api.common.v1 import Payloads

    document = json_format.MessageToDict(Payloads(payloads=payloads))
    return json.dumps({"payloads": document.get("payloads", [])}).encode()


def make_server(
    codec: EncryptionCodec, *, host: str = "127.0.0.1", port: int = 8081, web_origins: list[str] | None = None, token: str | None = None
) -> ThreadingHTTPServer:
    """An HTTP server (not yet serving) answering the codec-server protocol."""
    origins = [o.rstrip("/") for o in (web_origins or [])]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - one line per request, no bodies
            sys.stderr.write(f"codec-server: {self.command} {self.path} {args[1] if len(args) > 1 else ''}\n")

        def _cors(self) -> None:
            origin = self.headers.get("Origin", "").rstrip("/")
            if origin and ("*" in origins or origin in origins):
                self.send_header("Access-Control-Allow-Origin", origin)
                self.send_header("Access-Control-Allow-Credentials", "true")
                self.send_header("Vary", "Origin")

        def _answer(self, status: int, body: bytes = b"", content_type: str = "application/json") -> None:
            self.send_response(status)
            self._cors()
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

        def _error(self, status: int, message: str) -> None:
            self._answer(status, json.dumps({"message": message}).encode())

        def do_OPTIONS(self) -> None:  # noqa: N802 - the CORS preflight (no credentials sent)
            self.send_response(200)
            self._cors()
            self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
            self.send_header("Access-Control-Allow-Headers", ALLOWED_HEADERS)
            self.send_header("Access-Control-Max-Age", "600")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_POST(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0].rstrip("/")
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._error(413, "request too large")
                return
            body = self.rfile.read(length) if length else b""
            if token is not None:
                given = self.headers.get("Authorization", "")
                if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                    self._error(401, "missing or wrong bearer token")
                    return
            # also /{namespace}/decode, as a templated codec endpoint asks
            operation = path.rsplit("/", 1)[-1]
            if operation not in ("encode", "decode"):
                self._error(404, "POST /encode or /decode")
                return
            try:
                payloads = _payloads_from_json(body)
            except Exception as err:  # malformed JSON or proto JSON
                self._error(400, f"expected {{\"payloads\": [...]}} in protobuf JSON: {err}")
                return
            try:
                convert = codec.encrypt if operation == "encode" else codec.decrypt
                result = [convert(p) for p in payloads]
            except CodecError as err:
                self._error(400, str(err))
                return
            self._answer(200, _payloads_to_json(result))

        def do_GET(self) -> None:  # noqa: N802
            self._error(405, "POST /encode or /decode")

    return ThreadingHTTPServer((host, port), Handler)


def register(app: typer.Typer) -> None:
    @app.command("codec-server")
    def codec_server(
        port: int = typer.Option(8081, "--port", help="port to listen on"),
        host: str = typer.Option("127.0.0.1", "--host", help="address to listen on"),
        web_origin: list[str] = typer.Option(
            ["http://localhost:8233", "http://127.0.0.1:8233"], "--web-origin", help="Temporal Web's origin allowed by CORS (repeatable; * for any)"
        ),
        token: str | None = typer.Option(
            None, "--token", envvar="GANTRY_CODEC_SERVER_TOKEN", help="require Authorization: Bearer TOKEN on every request"
        ),
    ) -> None:
        """Serve Temporal's codec-server protocol (POST /encode, /decode) with the keys of
        GANTRY_CODEC_KEYS_FILE / GANTRY_CODEC_KEY, for Temporal Web (docs/security.md)."""
        from client.codec import configured_codec

        try:
            codec = configured_codec()
        except CodecError as err:
            print(f"error: {err}", file=sys.stderr)
            raise typer.Exit(1) from None
        if codec is None:
            print("error: no keys: set GANTRY_CODEC_KEYS_FILE or GANTRY_CODEC_KEY (docs/security.md)", file=sys.stderr)
            raise typer.Exit(1)
        server = make_server(codec, host=host, port=port, web_origins=web_origin, token=token)
        bound = server.server_address[1]
        auth = "bearer token required" if token else "no token"
        print(f"codec server on http://{host}:{bound} (keys {', '.join(codec.keys.ids)}; origins {', '.join(web_origin)}; {auth})", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread
