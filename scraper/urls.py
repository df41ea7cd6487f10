"""Article URLs: the URL a page is fetched at, the identity it is stored under, and the
article id derived from that identity (DESIGN sections 2 and 5).

Two forms of one URL:

* the **listed** URL (``listed_url``): as the channel gave it, made usable (surrounding
  whitespace and HTML entities such as ``&amp;`` removed). Pages are always fetched at
  this URL: a server may need every parameter it was given.
* the **identity** (``identity``): what names the article everywhere (the ``url`` column,
  the record's ``>URL:`` line, ``article_id``). The listed URL with:
    - the scheme and host in lower case, the default port dropped, an empty path as "/";
    - no fragment;
    - no ``;jsessionid=...`` path parameter (a servlet session id, never the article);
    - no query parameter whose key is on the short list of pure tracking keys below
      (``TRACKING_PREFIXES``, ``TRACKING_KEYS``; compared case-insensitively);
    - non-ASCII and unsafe characters percent-encoded (as they go over the wire),
      percent-escapes in upper-case hex.
  Everything else stays as listed: every other query parameter, in its order and
  spelling (a bare key such as ``spip.php?article101`` stays bare), path parameters
  (``/a;id=5``), ``+`` and ``%20``, dot segments and doubled slashes. When in doubt a
  parameter stays: two URLs of one article can still be merged (a page's canonical link
  makes the second an alias), two articles collapsed into one URL cannot be told apart.

The rule used before issue 8 (courlan's normalizer plus a longer tracking list) dropped
bare keys and parameters such as ``pk_no``, ``ref`` or ``source`` and sorted the rest, so
distinct articles could share one identity. ``legacy_identity`` keeps a copy of it for
``scraper db identities``, which finds and repairs the rows it may have collapsed.
"""

from __future__ import annotations

import hashlib
import html
import re
from urllib.parse import parse_qsl, quote, unquote_plus, urlencode, urlsplit, urlunsplit

# The pure tracking keys: each only ever tells the publisher where a reader came from
# (campaign and click ids of analytics and ad platforms, newsletter and share tags);
# no server needs it to choose the page. Keep this list short: a key that might name
# content anywhere (ref, source, id, oc, ito, ...) is not on it.
TRACKING_PREFIXES = ("utm_",)  # Google Analytics campaign tags: utm_source, utm_medium...
TRACKING_KEYS = frozenset(
    {
        "fbclid",  # Facebook click id
        "gclid",  # Google Ads click id
        "dclid",  # Google Display & Video click id
        "msclkid",  # Microsoft Ads click id
        "yclid",  # Yandex click id
        "mc_cid",  # Mailchimp campaign id
        "mc_eid",  # Mailchimp subscriber id
        "igshid",  # Instagram share id
        "_ga",  # Google Analytics cross-domain client id
        "_gl",  # Google Analytics linker
        "ocid",  # Microsoft/MSN origin campaign id
        "cmpid",  # Adobe Analytics campaign id
        "smid",  # New York Times share id
        "at_medium",  # AT Internet (Piano) traffic source tag
    }
)
DEFAULT_PORTS = {"http": 80, "https": 443}

# What no host holds (the WHATWG URL standard's forbidden host code points that
# urlsplit lets through): spaces, control characters (a NUL in a stored URL makes
# PostgreSQL refuse the row, and the batch with it) and a few punctuation marks.
_BAD_HOST_CHARS = re.compile(r"[\s\x00-\x1f\x7f<>\"{}|\\^`]")
# Characters a URL keeps as they are: the reserved ones and "%" (existing escapes are
# not touched); quote() never encodes letters, digits and "-._~". Everything else
# (non-ASCII, space, quotes, <>...) is percent-encoded as UTF-8.
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"
_ESCAPE = re.compile(r"%([0-9a-fA-F]{2})")
_JSESSIONID = re.compile(r";jsessionid=[^/;]*", re.IGNORECASE)
# A character reference with its semicolon: "&amp;", "&#38;", "&#x26;".
_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
# Browsers remove tabs and line breaks anywhere in a URL (a feed may wrap a long link).
_WRAPPED = re.compile(r"[\t\r\n]")


def listed_url(url: str) -> str:
    """The URL as listed, made usable: no surrounding whitespace, no tab or line break,
    HTML character references decoded (a feed or page that escaped ``&`` twice gives
    ``?a=1&amp;b=2``). This is the URL a page is fetched at. Raises ValueError when it is
    not an absolute http(s) URL with a host."""
    text = _WRAPPED.sub("", url.strip())
    for _ in range(3):  # "&amp;amp;" from a feed that escaped twice over
        decoded = _ENTITY.sub(lambda m: html.unescape(m[0]), text)
        if decoded == text:
            break
        text = decoded
    try:
        parts = urlsplit(text)
        hostname, _ = parts.hostname, parts.port  # both raise on a broken host or port
    except ValueError:
        raise ValueError(f"not a valid URL: {url!r}") from None
    if parts.scheme.lower() not in DEFAULT_PORTS or not hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    if _BAD_HOST_CHARS.search(parts.netloc):
        raise ValueError(f"invalid host in URL: {url!r}")
    return text


def identity(url: str) -> str:
    """The identity of an article URL (see the module's docstring for the rule).
    Raises ValueError when ``url`` is not an http(s) URL."""
    text = listed_url(url)
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    path = _escaped(_JSESSIONID.sub("", parts.path)) or "/"
    query = _escaped("&".join(_without_tracking(parts.query)))
    return urlunsplit((scheme, _netloc(text, scheme), path, query, ""))


# The name every caller used before the rule had a name of its own.
normalize_url = identity


def is_tracking_key(key: str) -> bool:
    """Whether a query key (as written, possibly percent-encoded) is pure tracking."""
    name = unquote_plus(key).strip().lower()
    return name.startswith(TRACKING_PREFIXES) or name in TRACKING_KEYS


def _without_tracking(query: str) -> list[str]:
    """The query's "&"-separated parameters as written, minus tracking ones and empty
    pieces ("a=1&&b=2", a trailing "&")."""
    return [p for p in query.split("&") if p and not is_tracking_key(p.split("=", 1)[0])]


def _netloc(url: str, scheme: str) -> str:
    parts = urlsplit(url)
    userinfo, at, _ = parts.netloc.rpartition("@")
    host = parts.hostname or ""  # lower-cased, IPv6 brackets removed
    port = parts.port  # listed_url() made sure it is valid
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    return f"{userinfo}{at}{host}"


def _escaped(text: str) -> str:
    """Non-ASCII and unsafe characters percent-encoded; escapes in upper-case hex."""
    return _ESCAPE.sub(lambda m: "%" + m[1].upper(), quote(text, safe=_URL_SAFE))


def site_of(url: str) -> str:
    """The site of a URL for "same site" comparisons: its host in lower case without a
    leading "www." (scheme and port do not matter)."""
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


def same_site(a: str, b: str) -> bool:
    site = site_of(a)
    return bool(site) and site == site_of(b)


def article_id(canonical_url: str) -> str:
    """16 lower-case hex characters that name an article everywhere (files, rows, logs)."""
    return hashlib.sha256(canonical_url.encode("utf-8")).hexdigest()[:16]


# --- the rule before issue 8, for `scraper db identities` only -----------------------

# courlan drops utm_*, fbclid, gclid and friends; the rule added these.
_LEGACY_EXTRA_TRACKING = {
    "oc",
    "ocid",
    "cmpid",
    "ito",
    "mc_cid",
    "mc_eid",
    "igshid",
    "smid",
    "at_medium",
}


def legacy_identity(url: str) -> str:
    """The identity the scraper gave ``url`` before issue 8: courlan's normalize_url
    (which drops parameters it does not know, bare keys included, and sorts the rest)
    plus a few more tracking keys. Only ``scraper db identities`` uses it, to find rows
    that rule may have collapsed; courlan stays a dependency for it (and trafilatura
    needs courlan anyway). It is not the identity rule: courlan's cleaning is tuned for
    sampling a site's links, not for telling articles apart. Raises ValueError when
    ``url`` is not an http(s) URL."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    if _BAD_HOST_CHARS.search(parts.netloc):
        raise ValueError(f"invalid host in URL: {url!r}")
    # Imported here: courlan (with babel, tld and urllib3) is a tenth of a second of
    # every command's start, and only `scraper db identities` needs it.
    from courlan import normalize_url as courlan_normalize

    normalized = courlan_normalize(url, strict=False)
    parts = urlsplit(normalized)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in _LEGACY_EXTRA_TRACKING
    ]
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), ""))
