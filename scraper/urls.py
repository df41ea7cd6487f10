"""URL normalization and the article identity derived from it."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from courlan import normalize_url as courlan_normalize

# courlan already drops utm_*, fbclid, gclid and friends; these are the ones it keeps
# that only ever track the reader (oc: Google News; ocid, cmpid, ito: publishers).
_BAD_HOST_CHARS = re.compile(r"[\s<>\"{}|\\^`]")
_EXTRA_TRACKING = {"oc", "ocid", "cmpid", "ito", "mc_cid", "mc_eid", "igshid", "smid", "at_medium"}


def normalize_url(url: str) -> str:
    """The canonical form of an article URL: lower-case host, no tracking parameters,
    no fragment, no default port. Raises ValueError when ``url`` is not an http(s) URL."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    if _BAD_HOST_CHARS.search(parts.netloc):
        raise ValueError(f"invalid host in URL: {url!r}")
    normalized = courlan_normalize(url, strict=False)
    parts = urlsplit(normalized)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in _EXTRA_TRACKING
    ]
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), ""))


def article_id(canonical_url: str) -> str:
    """16 lower-case hex characters that name an article everywhere (files, rows, logs)."""
    return hashlib.sha256(canonical_url.encode("utf-8")).hexdigest()[:16]
