"""A small web server on 127.0.0.1 serving the links the ingestion tests send the bot.

Usage::

    with LinkServer() as web:
        web.pages["/story.html"] = ("text/html; charset=utf-8", b"<html>...")
        url = web.url("/story.html")
        web.requests        # paths requested, in order

Besides ``pages`` it serves the troublesome links a bot meets: ``/slow`` (answers after
``slow_seconds``), ``/loop`` (redirects to itself forever), ``/hops/<n>`` (n redirects,
then a page), ``/huge`` (declares 2 GB), ``/endless`` (streams without a length until the
client hangs up), ``/half`` (half of its declared length, then the connection drops), and
404 for anything else.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LinkServer:
    def __init__(self, slow_seconds: float = 5.0):
        self.pages: dict[str, tuple[str, bytes]] = {}
        self.requests: list[str] = []
        self.slow_seconds = slow_seconds
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                server.requests.append(self.path)
                try:
                    server._serve(self)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="link-server", daemon=True)

    def __enter__(self) -> "LinkServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path
        if path in self.pages:
            content_type, body = self.pages[path]
            self._send(h, 200, body, content_type)
        elif path == "/slow":
            self._stop.wait(self.slow_seconds)
            self._send(h, 200, b"late", "text/plain")
        elif path == "/loop":
            self._redirect(h, "/loop")
        elif path.startswith("/hops/"):
            left = int(path.rsplit("/", 1)[1])
            if left > 0:
                self._redirect(h, f"/hops/{left - 1}")
            else:
                self._send(h, 200, b"Arrived after the redirects. " * 20, "text/plain; charset=utf-8")
        elif path == "/huge":
            h.send_response(200)
            h.send_header("Content-Type", "application/pdf")
            h.send_header("Content-Length", str(2 * 1024**3))
            h.end_headers()
            h.wfile.write(b"%PDF-1.4\n")
            h.close_connection = True
        elif path == "/endless":
            h.send_response(200)
            h.send_header("Content-Type", "text/plain")
            h.send_header("Connection", "close")
            h.end_headers()
            chunk = b"All work and no play makes a dull document. " * 1000
            while not self._stop.is_set():
                h.wfile.write(chunk)  # until the client hangs up (BrokenPipeError)
            h.close_connection = True
        elif path == "/half":
            h.send_response(200)
            h.send_header("Content-Type", "text/plain")
            h.send_header("Content-Length", "20000")
            h.end_headers()
            h.wfile.write(b"x" * 10000)
            h.wfile.flush()
            h.close_connection = True
        else:
            self._send(h, 404, b"not found", "text/plain")

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    @staticmethod
    def _redirect(h: BaseHTTPRequestHandler, location: str) -> None:
        h.send_response(302)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()
