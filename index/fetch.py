"""Fetch a link an admin sent: http(s) only, public addresses only, bounded in time, size and redirects.

Usage::

    page = fetch_url("https://example.org/story", max_bytes=20 * 2**20, timeout=20)
    page.data, page.name      # the body, and a file name for it ("example.org-story-1a2b3c4d.html")

The bot must not become a way into its own host's network: every address a host name
resolves to must be public (not loopback, private, link-local, multicast or reserved)
unless ``allow_private`` is set, every redirect is checked the same way, and the
request goes to the address that was checked (the host name is kept for the ``Host``
header and TLS), so a name that resolves differently a moment later changes nothing.
Proxy variables in the environment are ignored for the same reason.  At most
``max_redirects`` redirects; the whole download, redirects included, must finish
within ``timeout`` seconds and ``max_bytes`` bytes.  A web page, PDF, Word file or
plain text is kept; anything else is refused with its content type.  Every failure is
an ``IngestError`` whose message says what happened.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import time
from dataclasses import dataclass
from urllib.parse import unquote

import httpx

from core.errors import IngestError
from index.ingest import MIME_SUFFIXES, safe_name, url_digest
from index.documents import SUFFIXES

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
USER_AGENT = "cited-answers-bot/0.1 (document fetch for a Telegram bot)"
_REDIRECTS = (301, 302, 303, 307, 308)
_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@dataclass(frozen=True)
class Fetched:
    url: str  # as sent
    final_url: str  # after redirects
    content_type: str
    data: bytes
    name: str  # a safe file name: host, last path part, a hash of the URL, the document's suffix


def check_url(url: str) -> httpx.URL:
    """``url`` parsed, if it is an absolute http(s) URL without credentials; else IngestError."""
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise IngestError(f"not a valid link ({exc})") from None
    if not parsed.scheme:
        raise IngestError("not a link (a link starts with http:// or https://)")
    if parsed.scheme not in ("http", "https"):
        raise IngestError(f"only http and https links can be added, not {parsed.scheme or 'this'!r}")
    if not parsed.host:
        raise IngestError("the link has no host name")
    if parsed.userinfo:
        raise IngestError("links with a user name or password in them are not accepted")
    return parsed


def address_problem(address: str) -> str | None:
    """Why ``address`` must not be fetched (loopback, private, ...), or None for a public address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_unspecified:
        return "not a public address"
    if ip.is_private:
        return "a private-network address"
    if ip.is_multicast or ip.is_reserved or ip.is_unspecified or not ip.is_global:
        return "not a public address"
    return None


def resolve(host: str, port: int, allow_private: bool) -> str:
    """The address to connect to for ``host``: every address it resolves to must be allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise IngestError(f"cannot find the server {host} ({getattr(exc, 'strerror', None) or exc})") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise IngestError(f"cannot find the server {host}")
    if not allow_private:
        for address in addresses:
            problem = address_problem(address)
            if problem:
                shown = host if host == address else f"{host} ({address})"
                raise IngestError(
                    f"{shown} is {problem}: links must point to public servers, so the bot cannot be used "
                    "to reach its own host's network ([ingest] allow_private_urls)"
                )
    return addresses[0]


def fetch_url(
    url: str,
    *,
    max_bytes: int,
    timeout: float,
    allow_private: bool = False,
    max_redirects: int = MAX_REDIRECTS,
) -> Fetched:
    """Download ``url`` as a document (blocking: call it in a thread).

    Raises:
        IngestError: refused address or scheme, timeout, too many redirects, an HTTP error
            status, a body over ``max_bytes``, or a content type that is not a document.
    """
    current = check_url(url)
    deadline = time.monotonic() + timeout
    limits = httpx.Timeout(timeout)
    # No kept-alive connections: a connection is keyed by the address, and a redirect to another
    # name on the same address must not reuse a TLS session made for the first name.
    pool = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(timeout=limits, limits=pool, trust_env=False, follow_redirects=False) as client:
        for _ in range(max_redirects + 1):
            response = _request(client, current, allow_private, deadline, timeout)
            try:
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    try:
                        current = check_url(str(current.join(response.headers["location"])))
                    except IngestError as exc:
                        raise IngestError(f"the link redirects to a place that cannot be fetched: {exc}") from None
                    continue
                if response.status_code != 200:
                    reason = response.reason_phrase or ""
                    raise IngestError(f"the server answered {response.status_code} {reason}".rstrip())
                content_type = response.headers.get("content-type", "")
                suffix = _suffix(content_type, current)
                data = _read_body(response, max_bytes, deadline, timeout)
                suffix = suffix or _sniff(data)
                if suffix is None:
                    kind = content_type.split(";")[0].strip() or "of an unknown type"
                    raise IngestError(f"the link is {kind}, not a web page, PDF, Word file or text")
                data = _as_utf8(data, content_type, suffix)
                log.info("fetched %s: %d bytes of %s", current, len(data), content_type or "unknown type")
                return Fetched(url, str(current), content_type, data, _file_name(current, suffix, url))
            finally:
                response.close()
    raise IngestError(f"the link redirects more than {max_redirects} times")


def _request(client: httpx.Client, url: httpx.URL, allow_private: bool, deadline: float, timeout: float) -> httpx.Response:
    port = url.port or (443 if url.scheme == "https" else 80)
    address = resolve(url.host, port, allow_private)
    # Connect to the address just checked; the name still goes in Host and in TLS (SNI, certificate).
    pinned = url.copy_with(host=address)
    host_header = url.netloc.decode("ascii")
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    headers = {"Host": host_header, "User-Agent": USER_AGENT, "Accept": "text/html, application/pdf, text/plain, */*"}
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise IngestError(f"the download took longer than {timeout:g} s")
    request = client.build_request("GET", pinned, headers=headers, extensions=extensions, timeout=httpx.Timeout(remaining))
    try:
        return client.send(request, stream=True)
    except httpx.TimeoutException:
        raise IngestError(f"the server did not answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise IngestError(f"cannot reach {url.host}: {exc.__class__.__name__}") from None


def _read_body(response: httpx.Response, max_bytes: int, deadline: float, timeout: float) -> bytes:
    limit = f"{max_bytes / 2**20:g} MB"
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise IngestError(f"the document is {_size(int(declared))}; at most {limit} can be added ([seeds] max_file_mb)")
    body = bytearray()
    try:
        # Decoded bytes are counted, so a compressed body cannot expand past the limit.
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise IngestError(f"the document is larger than {limit}, the most that can be added ([seeds] max_file_mb)")
            if time.monotonic() > deadline:
                raise IngestError(f"the download took longer than {timeout:g} s")
    except httpx.TimeoutException:
        raise IngestError(f"the download stalled (nothing for {timeout:g} s)") from None
    except httpx.HTTPError as exc:
        raise IngestError(f"the download broke off after {response.num_bytes_downloaded} bytes ({exc.__class__.__name__})") from None
    if declared.isdigit() and response.num_bytes_downloaded < int(declared):
        raise IngestError(f"the download broke off after {response.num_bytes_downloaded} of {int(declared)} bytes")
    return bytes(body)


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.1f} MB"


def _suffix(content_type: str, url: httpx.URL) -> str | None:
    """The document suffix for a response, from its content type, else from the URL's path."""
    mime = content_type.split(";")[0].strip().lower()
    path = unquote(url.path).lower()
    by_path = next((s for s in SUFFIXES if path.endswith(s)), None)
    if mime == "text/plain" and by_path == ".md":
        return ".md"
    if mime in MIME_SUFFIXES:
        return MIME_SUFFIXES[mime]
    if mime in ("", "application/octet-stream", "binary/octet-stream", "application/x-download"):
        return by_path
    return None


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"%PDF-"):
        return ".pdf"
    return None


def _as_utf8(data: bytes, content_type: str, suffix: str) -> bytes:
    """Text in the charset its server declared, re-encoded as UTF-8 (what the seed reader expects)."""
    match = re.search(r"charset\s*=\s*\"?([A-Za-z0-9_.:-]+)", content_type, re.IGNORECASE)
    if suffix not in (".txt", ".md", ".html", ".htm") or not match:
        return data
    charset = match.group(1).lower()
    if charset in ("utf-8", "utf8"):
        return data
    try:
        return data.decode(charset).encode("utf-8")
    except (LookupError, UnicodeDecodeError):
        return data  # the reader tries UTF-8 and the page's own <meta charset>, and says why if both fail


def _file_name(url: httpx.URL, suffix: str, original: str) -> str:
    """``<host>-<last path part>-<hash of the URL sent><suffix>``: stable for one URL, distinct for two."""
    last = unquote(url.path).rstrip("/").rsplit("/", 1)[-1]
    stem = last.rsplit(".", 1)[0] if "." in last else last
    base = safe_name(f"{url.host}-{stem}" if stem else url.host, fallback="link")[:80].rstrip(" ._-")
    return f"{base}-{url_digest(original)}{suffix}"
