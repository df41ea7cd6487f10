from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scraper.document import Document, DocumentFormatError, parse, render

SAO_PAULO = ZoneInfo("America/Sao_Paulo")


def make(**changes: object) -> Document:
    fields: dict[str, object] = {
        "title": "Minister opens the new bridge - Example Gov",
        "published": datetime(2024, 3, 1, 10, 30, tzinfo=SAO_PAULO),
        "type": "Notícias",
        "url": "https://www.example.gov/news/bridge-1",
        "source_name": "Example Gov",
        "source_url": "https://www.example.gov",
        "language": "en",
        "aggregator": "RSS",
        "content": "First paragraph.\n\nSecond paragraph.",
    }
    fields.update(changes)
    return Document(**fields)  # type: ignore[arg-type]


def test_golden_record_renders_byte_for_byte(record_text: str) -> None:
    doc = parse(record_text)
    rebuilt = Document(
        title=doc.title,
        published=datetime(2023, 12, 6, 8, 0, tzinfo=UTC).astimezone(SAO_PAULO),
        type="Notícias",
        url=doc.url,
        source_name=doc.source_name,
        source_url="https://www.president.gov.ua",
        language="en",
        aggregator="GNews",
        content="\n\n".join(doc.paragraphs),
    )
    assert render(rebuilt).encode("utf-8") == record_text.encode("utf-8")
    assert doc.paragraphs[0].startswith("The USA – Ukraine Defense Industrial Base Conference")


def test_render_shape() -> None:
    text = render(make())
    assert text == (
        "# Título: Minister opens the new bridge - Example Gov\n\n"
        ">Data: 2024-03-01 10:30:00-03:00\n>Tipo: Notícias\n"
        ">URL: https://www.example.gov/news/bridge-1\n"
        ">Origem: [Example Gov](https://www.example.gov)\n>Idioma: en\n>Agregador: RSS\n\n"
        "### Conteúdo:\n\nFirst paragraph.\n\nSecond paragraph.\n"
    )


def test_fields_are_cleaned_so_the_record_stays_well_formed() -> None:
    doc = make(
        title="  A\ntitle\u2028with breaks ",
        content="\n\n  one  \t para \n\n\n\n two\r\n\r\n",
        published=datetime(2024, 3, 1, 10, 30, 15, 999, tzinfo=SAO_PAULO),
    )
    assert doc.title == "A title with breaks"
    assert doc.content == "one para\n\ntwo"
    text = render(doc)
    assert " \n" not in text and "\n\n\n" not in text and text.endswith("two\n")
    assert ">Data: 2024-03-01 10:30:15-03:00" in text


def test_a_title_of_megabytes_is_cut_to_a_headline_at_a_word() -> None:
    doc = make(title="word " * 200_000)
    assert doc.title == ("word " * 200).rstrip()  # 999 characters
    assert make(title="x" * 5_000).title == "x" * 1_000
    assert parse(render(doc)) == doc


def test_id_is_16_hex_of_the_url() -> None:
    doc = make()
    assert len(doc.id) == 16 and int(doc.id, 16) >= 0
    assert make(title="other").id == doc.id
    assert make(url="https://www.example.gov/news/bridge-2").id != doc.id


@pytest.mark.parametrize(
    "problem",
    [
        {"published": datetime(2024, 1, 1)},  # no time zone
        {"title": "   "},
        {"content": "\n\n"},
    ],
)
def test_invalid_documents_are_refused(problem: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        make(**problem)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda t: t.replace("# Título: ", "# Title: "),
        lambda t: t.replace(">Idioma:", ">Language:"),
        lambda t: t.replace("### Conteúdo:", "### Content:"),
        lambda t: t.rstrip("\n"),
        lambda t: t + "\n",
        lambda t: t.replace(">Data: 2024-03-01 10:30:00-03:00", ">Data: yesterday"),
        lambda t: t.replace("[Example Gov](https://www.example.gov)", "Example Gov"),
        lambda t: "",
    ],
)
def test_parse_rejects_malformed_records(mutate: object) -> None:
    text = mutate(render(make()))  # type: ignore[operator]
    with pytest.raises(DocumentFormatError):
        parse(text)


def test_parentheses_in_source_url_survive_the_origin_link() -> None:
    doc = make(source_url="https://example.gov/a_(b)")
    assert parse(render(doc)) == doc


def test_a_space_in_source_url_survives_the_origin_link() -> None:
    # A Google News <source url="http://pub.example/a b"> made a record the reader
    # refused ("'>Origem:' must be '[name](url)'").
    doc = make(source_url="http://pub.example/a b)c")
    assert doc.source_url == "http://pub.example/a%20b%29c"
    assert parse(render(doc)) == doc


line_text = st.text(min_size=1).filter(lambda s: s.strip() != "")
zones = st.sampled_from(
    [UTC, SAO_PAULO, ZoneInfo("Asia/Kolkata"), timezone(timedelta(hours=-9, minutes=-30))]
)


@given(
    title=line_text,
    name=st.text(),
    content=st.lists(line_text, min_size=1, max_size=5).map("\n\n".join),
    moment=st.datetimes(
        min_value=datetime(1900, 1, 2), max_value=datetime(2200, 1, 1), timezones=zones
    ),
    kind=st.text(),
    language=st.text(max_size=5),
    home=st.text(),
)
def test_render_parse_round_trip(
    title: str, name: str, content: str, moment: datetime, kind: str, language: str, home: str
) -> None:
    try:
        doc = make(
            title=title,
            source_name=name,
            source_url=home,
            content=content,
            published=moment,
            type=kind,
            language=language,
        )
    except ValueError:
        return  # text with nothing printable is refused at construction
    text = render(doc)
    again = parse(text)
    assert again == doc
    assert render(again) == text
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert all(line == line.rstrip() for line in text.split("\n"))
