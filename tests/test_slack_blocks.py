"""The Block Kit renderer: Slack's limits met by splitting, highlights translated, text escaped."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.slack_blocks import (
    MAX_BLOCKS,
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
    POST_ACTION_ID,
    escape,
    mrkdwn,
    render,
    split_text,
    validate,
)
from bot.chat.messages import Item, Page, Result, Section


def all_text(result: Result) -> str:
    return "\n".join(str(block) for msg in render(result) for block in msg.blocks)


def test_bold_marks_become_slack_bold_and_control_characters_are_escaped() -> None:
    assert mrkdwn("NATO is **irreversible** & <b>") == "NATO is *irreversible* &amp; &lt;b&gt;"
    assert escape("a<b>&c") == "a&lt;b&gt;&amp;c"


def test_header_is_cut_to_150() -> None:
    msg = render(Result(kind="search", title="T" * 400))[0]
    header = msg.blocks[0]
    assert header["type"] == "header" and len(header["text"]["text"]) == MAX_HEADER_TEXT
    assert header["text"]["text"].endswith("…")


def test_long_text_is_split_into_sections_not_cut() -> None:
    words = " ".join(f"w{n}" for n in range(3000))
    messages = render(Result(kind="digest", title="Digest", text=words))
    sections = [b for m in messages for b in m.blocks if b["type"] == "section"]
    assert len(sections) >= 5
    assert all(len(s["text"]["text"]) <= MAX_SECTION_TEXT for s in sections)
    rejoined = " ".join(s["text"]["text"] for s in sections).split()
    assert rejoined == words.split()  # nothing lost, nothing split mid-word


def test_split_never_cuts_inside_an_entity() -> None:
    text = "&" * 5000
    chunks = split_text(escape(text), 3000)
    assert all(len(c) <= 3000 for c in chunks)
    assert "".join(chunks) == escape(text)
    assert all(c.endswith("&amp;") for c in chunks)


def test_many_items_pack_into_messages_of_at_most_50_blocks() -> None:
    items = tuple(Item(title=f"Story {n}", url=f"https://example.org/{n}") for n in range(130))
    messages = render(Result(kind="search", title="Results", sections=(Section(heading="All", items=items),)))
    assert len(messages) == 3
    assert all(len(m.blocks) <= MAX_BLOCKS and not validate(m.blocks) for m in messages)
    text = "".join(str(m.blocks) for m in messages)
    assert "Story 0|" in text.replace("Story 0>", "") or "|Story 0>" in text
    assert "|Story 129>" in text


def test_max_messages_caps_with_a_note_and_keeps_the_button_last() -> None:
    items = tuple(Item(title=f"Story {n}") for n in range(400))
    messages = render(
        Result(kind="search", title="Results", sections=(Section(items=items),)),
        button_command="search nato",
        max_messages=5,
    )
    assert len(messages) == 5
    last = messages[-1].blocks
    assert last[-1]["type"] == "actions" and last[-1]["elements"][0]["action_id"] == POST_ACTION_ID
    assert "more blocks not shown" in str(last[-2])


def test_item_renders_link_meta_body_and_fields() -> None:
    item = Item(
        title="Rutte in The Hague",
        url="https://example.org/a|b",
        meta="Reuters · 2025-06-09",
        body="He said it was **irreversible**",
        fields=(("feeds", "3"),),
    )
    text = all_text(Result(kind="search", title="R", sections=(Section(items=(item,)),)))
    assert "<https://example.org/a%7Cb|Rutte in The Hague>" in text
    assert "_Reuters · 2025-06-09_" in text
    assert "*irreversible*" in text
    assert "*feeds:* 3" in text


def test_page_suggestions_and_footer_become_context() -> None:
    result = Result(
        kind="search",
        title="R",
        page=Page(next_command="search nato offset:10", shown=10, offset=10),
        suggestions=("rutte", "ruto"),
        footer="Sources: 3",
    )
    blocks = render(result)[0].blocks
    contexts = [b["elements"][0]["text"] for b in blocks if b["type"] == "context"]
    assert any("`/news search nato offset:10`" in c for c in contexts)
    assert any("`rutte`" in c for c in contexts)
    assert "Sources: 3" in contexts


def test_empty_result_still_renders_a_valid_message() -> None:
    messages = render(Result(kind="status", title="  "))
    assert len(messages) == 1 and messages[0].blocks and not validate(messages[0].blocks)
    assert messages[0].text


def test_button_value_too_long_is_left_out() -> None:
    blocks = render(Result(kind="search", title="R"), button_command="x" * 2001)[0].blocks
    assert all(b["type"] != "actions" for b in blocks)


texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=4000) | st.sampled_from(
    ["", "**x**", "&<>" * 1500, "a\n" * 3000, "**" + "b" * 3500 + "**", "<" * 3100]
)
items = st.builds(
    Item,
    title=st.text(max_size=300),
    url=st.none() | st.just("https://example.org/x?a=1&b=2"),
    meta=st.none() | st.text(max_size=200),
    body=st.none() | texts,
    fields=st.lists(st.tuples(st.text(max_size=50), st.text(max_size=500)), max_size=5).map(tuple),
)
sections = st.builds(
    Section,
    heading=st.none() | st.text(max_size=300),
    items=st.lists(items, max_size=30).map(tuple),
    text=st.none() | texts,
)
results = st.builds(
    Result,
    kind=st.sampled_from(["search", "quotes", "digest", "alert", "error"]),
    title=st.text(max_size=400),
    text=st.none() | texts,
    sections=st.lists(sections, max_size=4).map(tuple),
    suggestions=st.lists(st.text(max_size=100), max_size=5).map(tuple),
    footer=st.none() | st.text(max_size=3500),
    link=st.none() | st.just("https://example.org/story"),
)


@settings(max_examples=60, deadline=None)
@given(result=results, cap=st.none() | st.integers(min_value=1, max_value=5), button=st.none() | st.text(max_size=50))
def test_any_result_renders_within_slack_limits(result: Result, cap: int | None, button: str | None) -> None:
    messages = render(result, button_command=button, max_messages=cap)
    assert messages
    if cap is not None:
        assert len(messages) <= cap
    for message in messages:
        assert message.blocks and message.text
        assert validate(message.blocks) == []
