"""A stand-in for my-app: serves /metrics with http_requests_total counters for the
staging and prod namespaces at 100 requests/s and a 1% error rate, for Prometheus."""

import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

START = time.time()
ERROR_RATE = float(sys.argv[2]) if len(sys.argv) > 2 else 0.01


class Metrics(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        total = (time.time() - START) * 100
        lines = ["# TYPE http_requests_total counter"]
        for namespace in ("staging", "prod"):
            for status, share in (("500", ERROR_RATE), ("200", 1 - ERROR_RATE)):
                labels = f'status="{status}",app="my-app",namespace="{namespace}"'
                lines.append(f"http_requests_total{{{labels}}} {total * share:.1f}")
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threading.Event().wait()
