"""WDR (wdr.de, www1.wdr.de): each picture and video in the text carries a caption of its
own (a teaser headline and a paragraph in the media box) that reads like article text."""

from __future__ import annotations

from scraper.sites import SiteRule, site


@site("wdr.de")
class Wdr(SiteRule):
    drop = ("div.mediaInfo",)
