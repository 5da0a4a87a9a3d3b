"""A local HTTP server that plays the Allen Institute's API from an embedded cache, with faults.

It answers on 127.0.0.1 only, the three kinds of request allensdk makes for the
connectivity data:
- RMA queries ``/api/v2/data/query.json?q=...`` (structure ontology, ApiConnectivity),
- grid data ``/grid_data/download_file/<id>?image=<kind>&resolution=<res>``,
- the informatics archive ``/informatics-archive/.../annotation/ccf_2017/annotation_<res>.nrrd``,
serving the files of an embedded cache written in allensdk's formats. Each resource gets
a deterministic schedule of faults for its first requests (truncated bodies with and
without a Content-Length, connection resets mid-file, HTTP 500/503, slow answers);
``always_fail`` lists resources that never succeed. Counters say what was injected.
"""
from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

FAULTS = ("truncate", "truncate_nolength", "reset", "500", "503", "slow")


class AllenFaultServer:
    """Serve ``cache_root`` (an embedded connectivity cache) with injected faults.

    Parameters
    ----------
    cache_root : folder with ``structures.json``, ``experiments.json``,
        ``annotation/ccf_2017/annotation_<res>.nrrd`` and ``experiment_<id>/<kind>_<res>.nrrd``.
    faults_per_resource : how many of the first requests for each resource fail.
    always_fail : resource keys (e.g. ``"grid/123/projection_density"``) that always fail.
    slow_s : delay of a ``slow`` answer (it then succeeds; it is not counted as a failure).
    """

    def __init__(self, cache_root: Path, *, faults_per_resource: int = 1, always_fail: tuple[str, ...] = (),
                 slow_s: float = 1.0):
        self.root = Path(cache_root)
        self.faults_per_resource = faults_per_resource
        self.always_fail = set(always_fail)
        self.slow_s = slow_s
        self.requests: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self.served: Counter[str] = Counter()
        self._next_fault = 0
        self._schedule: dict[str, list[str]] = defaultdict(list)
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "AllenFaultServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _fault_for(self, key: str) -> str | None:
        with self._lock:
            self.requests[key] += 1
            if key in self.always_fail:
                fault = FAULTS[self._next_fault % 5]  # never 'slow': it would succeed
                self._next_fault += 1
                return fault
            if self.requests[key] <= self.faults_per_resource:
                fault = FAULTS[self._next_fault % len(FAULTS)]
                self._next_fault += 1
                return fault
            return None

    def resolve(self, path: str, query: dict[str, list[str]]) -> tuple[str, bytes, str]:
        """Map a request to (resource key, body, content type); raise KeyError when unknown."""
        m = re.fullmatch(r"/grid_data/download_file/(\d+)", path)
        if m:
            kind = query["image"][0]
            res = int(query.get("resolution", ["100"])[0])
            return f"grid/{m.group(1)}/{kind}", (self.root / f"experiment_{m.group(1)}" / f"{kind}_{res}.nrrd").read_bytes(), "application/octet-stream"
        m = re.fullmatch(r"/informatics-archive/current-release/mouse_ccf/(annotation/ccf_\d+)/(annotation_\d+\.nrrd)", path)
        if m:
            return f"archive/{m.group(2)}", (self.root / m.group(1) / m.group(2)).read_bytes(), "application/octet-stream"
        if path == "/api/v2/data/query.json":
            q = unquote(query.get("q", [""])[0])
            if "ApiConnectivity" in q:
                key, rows = "rma/ApiConnectivity", json.loads((self.root / "experiments.json").read_text())
            elif "Structure" in q:
                key, rows = "rma/Structure", json.loads((self.root / "structures.json").read_text())
            else:
                raise KeyError(q)
            body = {"success": True, "id": 0, "start_row": 0, "num_rows": len(rows), "total_rows": len(rows), "msg": rows}
            return key, json.dumps(body).encode(), "application/json"
        raise KeyError(path)

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                try:
                    key, body, ctype = server.resolve(url.path, parse_qs(url.query))
                except (KeyError, FileNotFoundError):
                    self.send_error(404)
                    return
                fault = server._fault_for(key)
                if fault:
                    server.injected[fault] += 1
                if fault in ("500", "503"):
                    self.send_error(int(fault))
                    return
                if fault == "slow":
                    time.sleep(server.slow_s)
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                if fault != "truncate_nolength":
                    self.send_header("Content-Length", str(len(body)))
                else:
                    self.send_header("Connection", "close")
                self.end_headers()
                if fault in ("truncate", "truncate_nolength"):
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fault == "reset":
                    self.wfile.write(body[: len(body) // 3])
                    self.wfile.flush()
                    # SO_LINGER 0: close sends RST, the client sees "connection reset by peer"
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.close()
                    return
                self.wfile.write(body)
                server.served[key] += 1

        return Handler
