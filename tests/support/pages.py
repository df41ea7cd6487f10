"""Small synthetic news pages and feeds written for this project's tests."""

from __future__ import annotations

from html import escape

SENTENCES = (
    "The regional council approved the new budget for public transport on Tuesday.",
    "Officials said the money will pay for forty electric buses and two new depots.",
    "Residents had asked for more frequent services on the routes to the hospital.",
    "The first buses are expected to enter service before the end of the year.",
    "Opposition members questioned the cost of the charging stations at the depots.",
    "The transport department will publish the new timetables next month.",
)


def article_paragraphs(seed: int, count: int = 4) -> list[str]:
    """Distinct, plausible paragraphs for article number ``seed``."""
    return [
        f"{SENTENCES[(seed + i) % len(SENTENCES)]} Report {seed}, part {i + 1}, adds that "
        f"the plan number {seed * 10 + i} was discussed with the unions and the mayor."
        for i in range(count)
    ]


def article_page(
    title: str,
    paragraphs: list[str],
    published: str | None = "2024-05-02T09:30:00+00:00",
    lang: str = "en",
    charset: str = "utf-8",
) -> str:
    """A news page with site furniture around the article (nav, share links, footer)."""
    date_meta = (
        f'<meta property="article:published_time" content="{published}">' if published else ""
    )
    body = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="{charset}"><title>{escape(title)} | City News</title>
<meta property="og:title" content="{escape(title)}">{date_meta}</head>
<body><header><nav><a href="/">Home</a> <a href="/news">News</a> <a href="/contact">Contact</a>
</nav></header>
<main><article><h1>{escape(title)}</h1>
{body}
</article>
<aside><h2>Share</h2><a href="#">Facebook</a> <a href="#">Email</a></aside></main>
<footer><p>City News, 1 Main Street. All rights reserved.</p></footer></body></html>"""


def rss_feed(items: list[tuple[str, str, str | None]]) -> str:
    """RSS 2.0 with (title, link, RFC 822 pubDate or None) items."""
    entries = "".join(
        f"<item><title>{escape(title)}</title><link>{escape(link)}</link>"
        + (f"<pubDate>{date}</pubDate>" if date else "")
        + "</item>"
        for title, link, date in items
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>City News</title><link>http://example.invalid/</link>{entries}</channel></rss>"
    )
