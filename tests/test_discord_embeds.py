"""The Discord embed renderer: Discord's limits met by splitting, markdown escaped, bold kept."""

from __future__ import annotations

import discord
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.discord_embeds import (
    DESCRIPTION_MAX,
    EMBEDS_PER_MESSAGE,
    MESSAGE_TOTAL_MAX,
    TITLE_MAX,
    embed_size,
    escape,
    markdown,
    render,
    validate,
)
from bot.chat.messages import Item, Page, Result, Section


def test_bold_marks_kept_other_markdown_escaped() -> None:
    assert markdown("a_b **irreversible** c*d") == r"a\_b **irreversible** c\*d"
    assert escape("# title\n- item\n> quote") == "\\# title\n\\- item\n\\> quote"
    assert escape("a - b # c") == "a - b # c"  # only at a line's start do these mean anything


def test_title_cut_to_256_and_link_set() -> None:
    [[embed]] = render(Result(kind="alert", title="T" * 300, link="https://example.org/a"))
    assert len(embed["title"]) == TITLE_MAX and embed["url"] == "https://example.org/a"


def test_long_text_splits_over_embeds_and_messages_within_6000() -> None:
    words = " ".join(f"word{n}" for n in range(4000))  # ~35,000 characters
    messages = render(Result(kind="digest", title="Digest", text=words))
    assert len(messages) >= 6
    for message in messages:
        assert not validate(message)
        assert sum(map(embed_size, message)) <= MESSAGE_TOTAL_MAX
    rejoined = " ".join(e["description"] for m in messages for e in m).split()
    assert rejoined == words.split()


def test_items_render_as_linked_bold_titles_with_meta() -> None:
    item = Item(title="Rutte_speech", url="https://example.org/a (1)", meta="Reuters", body="x **y**")
    [[embed]] = render(Result(kind="search", title="R", sections=(Section(heading="Hits", items=(item,)),)))
    assert "**[Rutte\\_speech](https://example.org/a%20%281%29)**" in embed["description"]
    assert "*Reuters*" in embed["description"] and "x **y**" in embed["description"]
    assert embed["description"].startswith("**Hits**")


def test_ref_and_footer_go_in_the_last_embed_footer() -> None:
    messages = render(Result(kind="alert", title="A", text="t " * 5000, footer="Reuters"), ref="abc123")
    last = messages[-1][-1]
    assert last["footer"]["text"] == "Reuters · ref abc123"
    assert all("footer" not in e for m in messages for e in m if e is not last)


def test_page_and_suggestions_are_shown() -> None:
    result = Result(kind="search", title="R", page=Page("search nato offset:10", 10, 10), suggestions=("rutte",))
    [[embed]] = render(result)
    assert "`/news search nato offset:10`" in embed["description"] and "`rutte`" in embed["description"]


def test_max_messages_caps_with_a_note_and_keeps_the_ref() -> None:
    items = tuple(Item(title=f"Story {n}", body="b " * 500) for n in range(200))
    messages = render(Result(kind="search", title="R", sections=(Section(items=items),)), ref="r1", max_messages=2)
    assert len(messages) == 2
    assert "more parts not shown" in messages[-1][-1]["description"]
    assert messages[-1][-1]["footer"]["text"] == "ref r1"
    assert all(not validate(m) for m in messages)


def test_embeds_load_into_discord_py() -> None:
    [[embed]] = render(Result(kind="error", title="Oops", text="bad", ok=False))
    loaded = discord.Embed.from_dict(embed)
    assert loaded.title == "Oops" and loaded.description == "bad" and loaded.colour is not None
    assert len(loaded) <= MESSAGE_TOTAL_MAX


texts = st.text(max_size=6000) | st.sampled_from(["", "**x**", "\\" * 5000, "*_`" * 2000, "\n" * 5000])
items = st.builds(
    Item,
    title=st.text(max_size=400),
    url=st.none() | st.just("https://example.org/x"),
    meta=st.none() | st.text(max_size=200),
    body=st.none() | texts,
    fields=st.lists(st.tuples(st.text(max_size=50), st.text(max_size=500)), max_size=5).map(tuple),
)
results = st.builds(
    Result,
    kind=st.sampled_from(["search", "quotes", "digest", "alert", "error"]),
    title=st.text(max_size=400),
    text=st.none() | texts,
    sections=st.lists(
        st.builds(
            Section,
            heading=st.none() | st.text(max_size=400),
            items=st.lists(items, max_size=20).map(tuple),
            text=st.none() | texts,
        ),
        max_size=4,
    ).map(tuple),
    suggestions=st.lists(st.text(max_size=100), max_size=5).map(tuple),
    footer=st.none() | st.text(max_size=3000),
    link=st.none() | st.just("https://example.org/story"),
    ok=st.booleans(),
)


@settings(max_examples=60, deadline=None)
@given(result=results, cap=st.none() | st.integers(min_value=1, max_value=5), ref=st.none() | st.text(max_size=30))
def test_any_result_renders_within_discord_limits(result: Result, cap: int | None, ref: str | None) -> None:
    messages = render(result, ref=ref, max_messages=cap)
    assert messages
    if cap is not None:
        assert len(messages) <= cap
    for message in messages:
        assert 0 < len(message) <= EMBEDS_PER_MESSAGE
        assert validate(message) == []
        for embed in message:
            assert len(embed["description"]) <= DESCRIPTION_MAX
            assert len(discord.Embed.from_dict(embed)) == embed_size(embed)
