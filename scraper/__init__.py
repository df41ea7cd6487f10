"""News scraper service: discover, fetch, extract, normalize and store news articles."""

__version__ = "0.1.0"
