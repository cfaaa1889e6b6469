"""Web servers on localhost for the STAC API tests, offline: a minimal STAC API (a landing page
and ``/search``) over the items of a static catalog, and servers that answer wrong.

``serve(routes)`` runs a ``ThreadingHTTPServer`` in a thread and yields its base URL; a route
maps a path to ``(status, body, content type)``, to :data:`HANG` (never answers until the
server stops: a timeout) or to a function of ``(method, query or JSON body)``.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, bytes, str]
Route = Answer | str | Callable[[str, dict[str, Any]], Answer]
HANG = "hang"
JSON = "application/json"


def closed_port_url() -> str:
    """The URL of a localhost port nothing listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/stac"


@contextmanager
def serve(routes: Mapping[str, Route]) -> Iterator[str]:
    """Serve ``routes`` on a free localhost port; yields the base URL (no trailing slash).
    Unknown paths answer 404. ``routes`` is read at each request: a mutable mapping may be
    filled once the URL is known."""
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, method: str) -> None:
            url = urlsplit(self.path)
            route = routes.get(url.path.rstrip("/") or "/", (404, b"not found", "text/plain"))
            if route == HANG:
                stop.wait(30)
                return
            if callable(route):
                if method == "POST":
                    size = int(self.headers.get("Content-Length", 0))
                    params = json.loads(self.rfile.read(size) or b"{}")
                else:
                    params = {k: v[0] for k, v in parse_qs(url.query).items()}
                route = route(method, params)
            status, body, kind = route
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def log_message(self, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def stac_api_routes(
    catalog: Path, base: str, searches: list[dict[str, Any]] | None = None
) -> dict[str, Route]:
    """A minimal STAC API at ``base`` over the items of the static ``catalog``: the landing
    page (core + item-search conformance) and ``/search`` filtered by ``collections`` (items
    without a collection match any; the assets point at the catalog's local files; one page,
    no paging). The parameters of each search are appended to ``searches``."""
    import pystac

    items = []
    for item in pystac.read_file(str(catalog)).get_items(recursive=True):
        item.make_asset_hrefs_absolute()
        record = item.to_dict(include_self_link=False, transform_hrefs=False)
        record["links"] = []
        items.append(record)
    landing = {
        "type": "Catalog",
        "stac_version": "1.0.0",
        "id": "stub",
        "description": "a STAC API stub over a synthetic scene (tests)",
        "conformsTo": [
            "https://api.stacspec.org/v1.0.0/core",
            "https://api.stacspec.org/v1.0.0/item-search",
        ],
        "links": [
            {"rel": "self", "href": base, "type": JSON},
            {"rel": "root", "href": base, "type": JSON},
            {"rel": "search", "href": f"{base}/search", "type": JSON, "method": "GET"},
            {"rel": "search", "href": f"{base}/search", "type": JSON, "method": "POST"},
        ],
    }

    def search(method: str, params: dict[str, Any]) -> Answer:
        if searches is not None:
            searches.append(params)
        wanted = params.get("collections") or []
        if isinstance(wanted, str):
            wanted = wanted.split(",")
        found = [it for it in items if not wanted or it.get("collection", wanted[0]) in wanted]
        body = {"type": "FeatureCollection", "features": found, "links": []}
        return 200, json.dumps(body).encode(), "application/geo+json"

    return {"/": (200, json.dumps(landing).encode(), JSON), "/search": search}
