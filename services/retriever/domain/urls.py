"""URL canonicalisation: one spelling per page, so the same page found twice is fetched and cited once."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Query parameters that say how a visitor arrived, never what the page is.
_TRACKING = frozenset(
    {"gclid", "dclid", "fbclid", "msclkid", "yclid", "mc_cid", "mc_eid", "_ga", "_gl", "igshid", "ref_src", "spm"}
)


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, no default port, credentials, fragment, dot segments or tracking
    parameters, the rest of the query sorted. `ValueError` for anything but an absolute http(s) URL."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"not an http(s) URL: {url!r}")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValueError(f"no host in {url!r}")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        pass  # already ASCII-compatible, or not a name IDNA can spell: keep it as given
    netloc = f"[{host}]" if ":" in host else host
    port = parts.port  # raises ValueError for a port out of range
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k))
    return urlunsplit((scheme, netloc, _remove_dot_segments(parts.path or "/"), urlencode(query), ""))


def origin(url: str) -> str:
    """scheme://host[:port] of a canonical URL: the scope of one robots.txt."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _is_tracking(key: str) -> bool:
    key = key.lower()
    return key.startswith("utm_") or key in _TRACKING


def _remove_dot_segments(path: str) -> str:
    # RFC 3986 section 5.2.4, which posixpath.normpath does not follow (it drops a trailing slash).
    out: list[str] = []
    segments = path.split("/")
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == ".":
            if last:
                out.append("")
        elif segment == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(segment)
    result = "/".join(out)
    return result if result.startswith("/") else "/" + result
