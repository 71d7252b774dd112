"""Result → Discord embeds: a pure renderer that respects Discord's limits by splitting.

Discord refuses a message whose embeds break a limit (400 Invalid Form Body), so a long digest
would be lost. Here every limit holds by construction: long text is split over several embeds,
and embeds are packed into messages of at most 10 embeds and 6,000 characters. Plain dicts in the
shape of Discord's API (`discord.Embed.from_dict` takes them), no I/O: unit- and property-tested.
"""

from __future__ import annotations

import re
from typing import Any

from bot.chat.messages import Item, Result

TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
MESSAGE_TOTAL_MAX = 6000  # title + description + fields + footer + author over all embeds of a message
EMBEDS_PER_MESSAGE = 10

COLOR_OK = 0x2B6CB0
COLOR_ERROR = 0xC53030
COLOR_ALERT = 0xD69E2E

Embed = dict[str, Any]

_BOLD = re.compile(r"\*\*(.+?)\*\*", re.S)
_MARKDOWN = re.compile(r"([\\*_~`|\[\]])")
_LINE_START = re.compile(r"^([ \t]*)([#>-])", re.M)  # headings, quotes and lists only mean something there


def escape(text: str) -> str:
    """Discord markdown characters escaped, so a headline with `*` or `_` shows as typed."""
    return _LINE_START.sub(r"\1\\\2", _MARKDOWN.sub(r"\\\1", text))


def markdown(text: str) -> str:
    """Escape the text but keep our `**bold**` highlight marks as Discord bold."""
    out: list[str] = []
    last = 0
    for m in _BOLD.finditer(text):
        out.append(escape(text[last : m.start()]))
        out.append(f"**{escape(m.group(1))}**")
        last = m.end()
    out.append(escape(text[last:]))
    return "".join(out)


def plain(text: str) -> str:
    return _BOLD.sub(lambda m: m.group(1), text)


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cut_point(text: str, limit: int) -> int:
    window = text[:limit]
    for sep in ("\n\n", "\n", " "):
        at = window.rfind(sep)
        if at >= limit // 2:
            return at + len(sep)
    # never cut between an escape backslash and the character it escapes
    run = len(window) - len(window.rstrip("\\"))
    return limit - 1 if run % 2 == 1 and limit > 1 else limit


def split_text(text: str, limit: int) -> list[str]:
    chunks: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = _cut_point(rest, limit)
        head = rest[:cut].rstrip()
        if head:
            chunks.append(head)
        rest = rest[cut:].lstrip("\n")
    if rest.strip():
        chunks.append(rest)
    return chunks


def _safe_url(url: str) -> str:
    return url.replace(" ", "%20").replace(")", "%29").replace("(", "%28")


def item_markdown(item: Item) -> str:
    title = markdown(item.title)
    lines = [f"**[{title}]({_safe_url(item.url)})**" if item.url else f"**{title}**"]
    if item.body:
        lines.append(markdown(item.body))
    if item.meta:
        lines.append(f"*{markdown(item.meta)}*")
    lines.extend(f"**{markdown(name)}:** {markdown(value)}" for name, value in item.fields)
    return "\n".join(lines)


def _color(result: Result) -> int:
    if not result.ok:
        return COLOR_ERROR
    return COLOR_ALERT if result.kind == "alert" else COLOR_OK


def _url_ok(url: str | None) -> bool:
    return bool(url) and url is not None and url.startswith(("http://", "https://")) and len(url) <= 2048


def body_embeds(result: Result, *, ref: str | None = None) -> list[Embed]:
    """All the embeds of the result, each within its own limits (not yet packed into messages)."""
    color = _color(result)
    blocks: list[tuple[str | None, str]] = []  # (embed title, description chunk)
    if result.text:
        blocks.extend((None, chunk) for chunk in split_text(markdown(result.text), DESCRIPTION_MAX))
    for section in result.sections:
        heading = truncate(plain(section.heading), TITLE_MAX) if section.heading else None
        parts: list[str] = []
        if section.text:
            parts.append(markdown(section.text))
        parts.extend(item_markdown(item) for item in section.items)
        chunks = split_text("\n\n".join(parts), DESCRIPTION_MAX) if parts else []
        if not chunks and heading:
            chunks = ["\u200b"]  # a heading on its own still needs a description
        blocks.extend((heading if n == 0 else None, chunk) for n, chunk in enumerate(chunks))
    extras: list[str] = []
    if result.suggestions:
        extras.append("Did you mean: " + ", ".join(f"`{s.replace('`', '')}`" for s in result.suggestions))
    if result.page:
        extras.append(f"Showing {result.page.shown}. More: `/news {result.page.next_command.replace('`', '')}`")
    if extras:
        blocks.extend((None, chunk) for chunk in split_text("\n".join(extras), DESCRIPTION_MAX))

    embeds: list[Embed] = []
    title = truncate(plain(result.title), TITLE_MAX).strip() or result.kind
    if not blocks:
        blocks = [(None, "\u200b")]
    for n, (heading, description) in enumerate(blocks):
        embed: Embed = {"type": "rich", "color": color, "description": description}
        if n == 0:
            embed["title"] = title
            if _url_ok(result.link):
                embed["url"] = result.link
        elif heading:
            embed["title"] = heading
        if heading and n == 0:
            embed["description"] = truncate(f"**{escape(heading)}**\n{description}", DESCRIPTION_MAX)
        embeds.append(embed)
    footer = " · ".join(
        p for p in (plain(result.footer) if result.footer else None, f"ref {ref}" if ref else None) if p
    )
    if footer:
        embeds[-1]["footer"] = {"text": truncate(footer, FOOTER_MAX)}
    return embeds


def discord_mention(mention: str | None) -> str | None:
    """A subscription's mention as Discord message content: `@here`/`@everyone`, `<@&role>`, `<@user>`
    as written; Slack's `@channel` is Discord's `@here`. A bare `@name` stays text (no name lookup)."""
    if not mention:
        return None
    return "@here" if mention.lower() == "@channel" else mention


def embed_size(embed: Embed) -> int:
    """Characters Discord counts toward the 6,000 total of a message."""
    size = len(embed.get("title", "")) + len(embed.get("description", ""))
    size += len(embed.get("footer", {}).get("text", "")) + len(embed.get("author", {}).get("name", ""))
    for f in embed.get("fields", []):
        size += len(f["name"]) + len(f["value"])
    return size


def render(result: Result, *, ref: str | None = None, max_messages: int | None = None) -> list[list[Embed]]:
    """Render a result as messages (lists of embeds): ≤10 embeds and ≤6,000 characters each.

    `ref` goes into the last embed's footer: the idempotency marker `find_posted` looks for.
    `max_messages` caps the count; the last kept embed then says how much was left out.
    """
    embeds = body_embeds(result, ref=ref)
    messages: list[list[Embed]] = [[]]
    for embed in embeds:
        current = messages[-1]
        if current and (
            len(current) >= EMBEDS_PER_MESSAGE or sum(map(embed_size, current)) + embed_size(embed) > MESSAGE_TOTAL_MAX
        ):
            messages.append([])
        messages[-1].append(embed)
    if max_messages is not None and len(messages) > max_messages:
        dropped = sum(len(m) for m in messages[max_messages:])
        footer = embeds[-1].get("footer")
        messages = messages[:max_messages]
        last = messages[-1][-1]
        note = f"… {dropped} more parts not shown: narrow the command to see them."
        last["description"] = truncate(last["description"], DESCRIPTION_MAX - len(note) - 2) + "\n\n" + note
        if footer:
            last["footer"] = footer
        # the note and footer may push the message over the total: drop embeds from its front
        while sum(map(embed_size, messages[-1])) > MESSAGE_TOTAL_MAX and len(messages[-1]) > 1:
            messages[-1].pop(0)
    return messages


def validate(message: list[Embed]) -> list[str]:
    """The limits this module promises, as a checker: the tests' oracle and a debug aid."""
    problems: list[str] = []
    if not 0 < len(message) <= EMBEDS_PER_MESSAGE:
        problems.append(f"{len(message)} embeds")
    if sum(map(embed_size, message)) > MESSAGE_TOTAL_MAX:
        problems.append(f"total {sum(map(embed_size, message))} > {MESSAGE_TOTAL_MAX}")
    for n, e in enumerate(message):
        if len(e.get("title", "")) > TITLE_MAX:
            problems.append(f"embed {n}: title")
        if not 0 < len(e.get("description", "")) <= DESCRIPTION_MAX:
            problems.append(f"embed {n}: description length {len(e.get('description', ''))}")
        if len(e.get("footer", {}).get("text", "")) > FOOTER_MAX:
            problems.append(f"embed {n}: footer")
        fields = e.get("fields", [])
        if len(fields) > FIELDS_MAX:
            problems.append(f"embed {n}: {len(fields)} fields")
        for f in fields:
            if len(f["name"]) > FIELD_NAME_MAX or len(f["value"]) > FIELD_VALUE_MAX:
                problems.append(f"embed {n}: field too long")
    return problems
