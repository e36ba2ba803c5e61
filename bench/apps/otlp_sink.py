"""A stand-in OTLP/HTTP collector for the benchmark: accepts trace exports, keeps none.

``python bench/apps/otlp_sink.py PORT`` answers every ``POST /v1/traces`` with
200 and an empty ``ExportTraceServiceResponse`` (an empty protobuf message),
and on SIGTERM or SIGINT prints how many exports and bytes it received, so the
run can show that spans were really sent.
"""

import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

received = {"exports": 0, "bytes": 0}


class Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        size = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(size)
        received["exports"] += 1
        received["bytes"] += size
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: one line per export would drown the run's log."""


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink)

    def stop(_signum: int, _frame: object) -> None:
        print(f"OTLP_SINK exports={received['exports']} bytes={received['bytes']}", flush=True)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever()


if __name__ == "__main__":
    main()
