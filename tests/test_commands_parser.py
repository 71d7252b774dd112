"""The `/news` parser and figure resolution: pure functions, including fuzzing."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.chat.messages import Usage
from bot.commands.figure_lookup import FigureIndex
from bot.commands.parser import SPECS, Command, parse, tokenize
from bot.config import AppConfig


def test_tokenize_handles_straight_curly_and_unterminated_quotes() -> None:
    assert tokenize('search "air defence" nato') == ["search", "air defence", "nato"]
    assert tokenize("search “air defence” nato") == ["search", "air defence", "nato"]
    assert tokenize('subscribe digest:"0 8 * * *" tz:UTC') == ["subscribe", "digest:0 8 * * *", "tz:UTC"]
    assert tokenize("quotes ‘the nato chief’") == ["quotes", "the nato chief"]
    assert tokenize('search "unterminated phrase') == ["search", "unterminated phrase"]
    assert tokenize("quotes Zelensky's") == ["quotes", "Zelensky's"]  # an apostrophe is a letter
    assert tokenize("") == []


def test_parse_subcommands_options_and_prefix() -> None:
    cmd = parse("/news quotes rutte since:7d topic:ukraine")
    assert isinstance(cmd, Command)
    assert (cmd.name, cmd.args, cmd.options) == ("quotes", ("rutte",), {"since": "7d", "topic": "ukraine"})
    assert parse("news quotes the nato chief") == parse("quotes the nato chief")
    sub = parse('subscribe topic:nato digest:"0 8 * * *" tz:Europe/Amsterdam')
    assert isinstance(sub, Command)
    assert sub.options == {"topic": "nato", "digest": "0 8 * * *", "tz": "Europe/Amsterdam"}
    search = parse('search "air defence" -patriot topic:nato page:3')
    assert isinstance(search, Command)
    assert search.rest == '"air defence" -patriot topic:nato'  # the search language gets it as typed
    assert search.page == 3
    feeds = parse("feeds add https://example.org/rss topic:nato")
    assert isinstance(feeds, Command)
    assert feeds.args == ("add", "https://example.org/rss")  # a URL's "https:" is not an option
    assert parse("") == Command("help")
    assert parse("   /news   ") == Command("help")


def test_malformed_commands_get_short_usage() -> None:
    missing = parse("quotes")
    assert isinstance(missing, Usage)
    assert missing.to_result().kind == "usage" and "quotes FIGURE" in (missing.to_result().text or "")
    unknown = parse("qoutes rutte")
    assert isinstance(unknown, Usage)
    assert "did you mean `quotes`" in unknown.problem
    bad_page = parse("search nato page:two")
    assert isinstance(bad_page, Usage)
    assert isinstance(parse("search"), Usage)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_parse_never_raises(text: str) -> None:
    out = parse(text)
    assert isinstance(out, Command | Usage)
    if isinstance(out, Command):
        assert out.name in SPECS
        assert 1 <= out.page <= 1000


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(['"', "“", "”", "'", "’", " ", "a", ":", "page:", "since:", "/news", "\n", "x y"]),
                max_size=30).map("".join))
def test_parse_never_raises_on_quote_soup(text: str) -> None:
    assert isinstance(parse("search " + text), Command | Usage)
    assert isinstance(parse("subscribe " + text), Command | Usage)
    assert all(isinstance(t, str) for t in tokenize(text))


def test_figure_resolution_aliases_titles_and_typos(app_config: AppConfig) -> None:
    idx = FigureIndex(app_config.figure_list())
    day = date(2025, 6, 9)
    assert idx.resolve("zelenskyy", day).figure.name == "Volodymyr Zelensky"  # type: ignore[union-attr]
    assert idx.resolve("Zelensky's", day).figure.name == "Volodymyr Zelensky"  # type: ignore[union-attr]
    assert idx.resolve("the nato chief", day).figure.name == "Mark Rutte"  # type: ignore[union-attr]
    # Titles are dated: before October 2024 the NATO chief was Stoltenberg.
    assert idx.resolve("the NATO chief", date(2023, 1, 1)).figure.name == "Jens Stoltenberg"  # type: ignore[union-attr]
    assert idx.resolve("orban", day).figure.name == "Viktor Orbán"  # type: ignore[union-attr]
    typo = idx.resolve("zelenksy", day)
    assert typo.figure is None and typo.suggestions[0] == "Volodymyr Zelensky"
    assert idx.resolve("nobody at all here", day).figure is None
    assert idx.resolve("", day).figure is None
