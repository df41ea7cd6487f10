"""Build, at test time, the kind of page a government site serves around an article.

The article text comes from a Document (e.g. the real record in DESIGN's ``format/``);
everything around it (menus, breadcrumbs, share buttons, related news, footer) is
invented here, shaped like a typical official site, so that extraction has real
boilerplate to leave out.
"""

from __future__ import annotations

import json
from html import escape
from urllib.parse import urlsplit

from scraper.document import Document

_NAV_ITEMS = ("President", "News", "Documents", "Appeals", "Press centre", "Contacts")
_RELATED = (
    (
        "The Head of State held a meeting on the energy system's readiness for winter",
        "Participants discussed protection of generating facilities and reserves of "
        "equipment for repairs in the regions.",
    ),
    (
        "Ukraine and partners agreed on new steps to strengthen air defense",
        "The parties agreed on the timing of deliveries and on joint maintenance centres "
        "for the systems already in service.",
    ),
    (
        "The President met with representatives of international business",
        "The conversation focused on investment in reconstruction and insurance of "
        "risks for companies working in Ukraine.",
    ),
    (
        "Address by the President on the results of the week",
        "The President thanked the defenders and spoke about the priorities for the "
        "coming days in diplomacy and the economy.",
    ),
)


def build_article_html(doc: Document, *, headline: str, date_line: str) -> str:
    """A complete HTML page for ``doc``: its paragraphs in ``<p>`` tags under an ``<h1>``
    with ``headline`` and a line with ``date_line``, inside a government site's furniture."""
    home = _home(doc.url)
    jsonld = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": headline,
        "datePublished": doc.published.isoformat(),
        "inLanguage": "en",
        "mainEntityOfPage": doc.url,
        "author": {"@type": "Organization", "name": doc.source_name},
        "publisher": {"@type": "Organization", "name": doc.source_name, "url": home},
    }
    paragraphs = "\n".join(f"        <p>{escape(p)}</p>" for p in doc.paragraphs)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{escape(headline)} — {escape(doc.source_name)}</title>
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="description" content="{escape(doc.paragraphs[0][:150])}...">
  <link rel="canonical" href="{escape(doc.url)}">
  <meta property="og:type" content="article">
  <meta property="og:site_name" content="{escape(doc.source_name)}">
  <meta property="og:title" content="{escape(headline)}">
  <meta property="og:url" content="{escape(doc.url)}">
  <meta property="og:image" content="{home}/storage/images/og-default.jpg">
  <link rel="stylesheet" href="{home}/css/main.css">
  <script type="application/ld+json">{_script_json(jsonld)}</script>
  <script>window.dataLayer = window.dataLayer || []; dataLayer.push({{"page": "news"}});</script>
</head>
<body class="page-news">
  <header class="site-header">
    <div class="logo"><a href="{home}/en"><img src="{home}/img/logo.svg" alt="Logo">
      <span>{escape(doc.source_name)}</span></a></div>
    <nav class="main-menu"><ul>
{_menu(home)}
    </ul></nav>
    <div class="lang-switch">
      <a href="{home}/ua">Українська</a> <a href="{home}/en">English</a>
    </div>
    <form class="search" action="{home}/en/search"><input name="q" placeholder="Search"></form>
  </header>
  <div class="breadcrumbs"><a href="{home}/en">Home</a> / <a href="{home}/en/news">News</a>
    / <span>{escape(headline[:40])}...</span></div>
  <main class="content">
    <article class="article">
      <h1>{escape(headline)}</h1>
      <div class="article-meta"><span class="date">{escape(date_line)}</span>
        <span class="category"><a href="{home}/en/news/speeches">Events</a></span></div>
      <div class="share">
        <span>Share:</span>
        <a href="https://www.facebook.com/sharer/sharer.php?u={escape(doc.url)}">Facebook</a>
        <a href="https://twitter.com/intent/tweet?url={escape(doc.url)}">X</a>
        <a href="https://t.me/share/url?url={escape(doc.url)}">Telegram</a>
        <a href="mailto:?subject={escape(headline)}">Email</a>
      </div>
      <div class="article-text">
{paragraphs}
      </div>
      <div class="tags">Tags: <a href="{home}/en/tags/defense">defense</a>
        <a href="{home}/en/tags/usa">USA</a></div>
    </article>
    <section class="related-news">
      <h2>Related news</h2>
      <ul>
{_related(home)}
      </ul>
      <a class="more" href="{home}/en/news/all">All news</a>
    </section>
  </main>
  <footer class="site-footer">
    <div class="contacts">
      <p>Address: 11 Bankova Street, Kyiv, 01220</p>
      <p>Press service: <a href="mailto:press@example.gov.ua">press@example.gov.ua</a></p>
    </div>
    <ul class="footer-links">
      <li><a href="{home}/en/about">About the site</a></li>
      <li><a href="{home}/en/accessibility">Accessibility</a></li>
      <li><a href="{home}/en/rss">RSS</a></li>
    </ul>
    <p class="copyright">© 2015-2023 {escape(doc.source_name)}. All content on this site is
      licensed under Creative Commons Attribution 4.0 International.</p>
  </footer>
</body>
</html>
"""


def _script_json(data: object) -> str:
    # "</" inside a value would end the <script> element early.
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/")


def _home(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _menu(home: str) -> str:
    return "\n".join(
        f'      <li><a href="{home}/en/{item.lower().replace(" ", "-")}">{item}</a></li>'
        for item in _NAV_ITEMS
    )


def _related(home: str) -> str:
    return "\n".join(
        f'        <li><span class="date">5 December 2023 - {18 - i}:{15 + i * 7}</span>\n'
        f'          <a href="{home}/en/news/related-{87540 + i}">{escape(title)}</a>\n'
        f"          <p>{escape(teaser)}</p></li>"
        for i, (title, teaser) in enumerate(_RELATED)
    )
