"""Result → Slack Block Kit: a pure renderer that respects Slack's limits by splitting.

Slack rejects a whole message when one block breaks a limit (`invalid_blocks`), so a long digest
would be lost rather than shortened. Here every limit is met by construction: text is split at
line or word boundaries into several section blocks, and blocks are packed into several messages
of at most 50 blocks each. Nothing in this module does I/O, so the limits are unit- and
property-tested directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.chat.messages import Action, Item, Result

MAX_BLOCKS = 50  # blocks in one message
MAX_SECTION_TEXT = 3000  # characters in a section's text
MAX_HEADER_TEXT = 150  # characters in a header's plain text
MAX_CONTEXT_TEXT = 3000  # characters in one context element
MAX_BUTTON_VALUE = 2000  # characters in a button's value
MAX_FALLBACK_TEXT = 3000  # the notification text; Slack truncates at 40,000 but short is kinder

POST_ACTION_ID = "newsbot_post_to_channel"
COMMAND_ACTION_PREFIX = "newsbot_cmd"  # + ":N": a button that runs its value as a /news command
MAX_BUTTON_TEXT = 75  # characters of a button's label
MAX_ACTIONS = 5  # buttons in one actions block (Slack allows 25; more is clutter)

Block = dict[str, Any]

_BOLD = re.compile(r"\*\*(.+?)\*\*", re.S)


def escape(text: str) -> str:
    """Slack's three control characters; everything else in mrkdwn is left as typed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn(text: str) -> str:
    """Our `**bold**` highlight marks → Slack's `*bold*`, with the text escaped."""
    return _BOLD.sub(lambda m: f"*{m.group(1)}*", escape(text))


def plain(text: str) -> str:
    """Text for plain_text fields and notifications: highlight marks dropped."""
    return _BOLD.sub(lambda m: m.group(1), text)


def _safe_url(url: str) -> str:
    # `|` and `>` end a Slack link; spaces break it; `&` is an entity like anywhere in mrkdwn.
    return url.replace("&", "&amp;").replace("|", "%7C").replace(">", "%3E").replace("<", "%3C").replace(" ", "%20")


def link(url: str | None, title: str) -> str:
    text = mrkdwn(title)
    return f"<{_safe_url(url)}|{text}>" if url else text


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cut_point(text: str, limit: int) -> int:
    """Where to cut `text` so the head is at most `limit` characters, preferring a line break,
    then a space, and never inside an `&amp;`-style entity or a `<link|…>`."""
    window = text[:limit]
    for sep in ("\n", " "):
        at = window.rfind(sep)
        if at >= limit // 2:
            return at + 1
    cut = limit
    amp = window.rfind("&", max(0, limit - 6))
    if amp != -1 and ";" not in window[amp:]:
        cut = amp
    lt = window.rfind("<")
    if lt != -1 and ">" not in window[lt:] and lt > 0:
        cut = min(cut, lt)
    return max(cut, 1)


def split_text(text: str, limit: int = MAX_SECTION_TEXT) -> list[str]:
    """Split mrkdwn into chunks of at most `limit` characters, at natural boundaries."""
    chunks: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = _cut_point(rest, limit)
        head = rest[:cut].rstrip("\n")
        if head.strip():
            chunks.append(head)
        rest = rest[cut:].lstrip("\n")
    if rest.strip():
        chunks.append(rest)
    return chunks


def _sections(text: str) -> list[Block]:
    return [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in split_text(text)]


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, MAX_CONTEXT_TEXT)}]}


def item_mrkdwn(item: Item) -> str:
    lines = [f"*{link(item.url, item.title)}*" if item.title else ""]
    if item.body:
        lines.append(mrkdwn(item.body))
    if item.meta:
        lines.append(f"_{mrkdwn(item.meta)}_")
    lines.extend(f"*{mrkdwn(name)}:* {mrkdwn(value)}" for name, value in item.fields)
    return "\n".join(line for line in lines if line)


def body_blocks(result: Result) -> list[Block]:
    """Every block of the result in order, each within its own limits (not yet packed)."""
    blocks: list[Block] = []
    ping = slack_mention(result.mention)
    if ping:
        blocks.extend(_sections(ping))
    title = plain(result.title).strip()
    if title:
        blocks.append({"type": "header", "text": {"type": "plain_text", "text": truncate(title, MAX_HEADER_TEXT)}})
    if result.text:
        blocks.extend(_sections(result.text and mrkdwn(result.text)))
    if result.link:
        blocks.extend(_sections(link(result.link, result.link)))
    for section in result.sections:
        if section.heading:
            blocks.extend(_sections(f"*{mrkdwn(section.heading)}*"))
        if section.text:
            blocks.extend(_sections(mrkdwn(section.text)))
        for item in section.items:
            blocks.extend(_sections(item_mrkdwn(item)))
            buttons = action_block(item.actions)
            if buttons:
                blocks.append(buttons)
    if result.suggestions:
        blocks.append(_context("Did you mean: " + ", ".join(f"`{escape(s)}`" for s in result.suggestions)))
    if result.page:
        blocks.append(_context(f"Showing {result.page.shown}. More: `/news {escape(result.page.next_command)}`"))
    if result.footer:
        blocks.append(_context(mrkdwn(result.footer)))
    return blocks


def action_block(actions: tuple[Action, ...]) -> Block | None:
    """An item's buttons; each runs its command as the person who clicks (action id `newsbot_cmd:N`)."""
    elements = [
        {
            "type": "button",
            "action_id": f"{COMMAND_ACTION_PREFIX}:{n}",
            "text": {"type": "plain_text", "text": truncate(a.label, MAX_BUTTON_TEXT)},
            "value": a.command,
        }
        for n, a in enumerate(actions[:MAX_ACTIONS])
        if a.command and len(a.command) <= MAX_BUTTON_VALUE
    ]
    return {"type": "actions", "elements": elements} if elements else None


def post_button(command_text: str) -> Block | None:
    """The "Post to channel" button under an ephemeral reply; its value is the command to re-run."""
    if not command_text or len(command_text) > MAX_BUTTON_VALUE:
        return None
    return {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": POST_ACTION_ID,
                "text": {"type": "plain_text", "text": "Post to channel"},
                "value": command_text,
            }
        ],
    }


@dataclass(frozen=True)
class SlackMessage:
    """One chat message: blocks plus the plain fallback text notifications and screen readers use."""

    text: str
    blocks: list[Block]


SLACK_SPECIAL = {"@here": "<!here>", "@channel": "<!channel>", "@everyone": "<!everyone>"}


def slack_mention(mention: str | None) -> str | None:
    """`@here` → `<!here>`; `<@U…>` and `<!subteam^…>` as written; a bare `@name` stays text (Slack's
    API resolves no names: a user group is pinged by its `<!subteam^ID>`)."""
    if not mention:
        return None
    return SLACK_SPECIAL.get(mention.lower(), mention if mention.startswith("<") else escape(mention))


def fallback_text(result: Result) -> str:
    parts = [p for p in (slack_mention(result.mention), plain(result.title)) if p]
    if result.text:
        parts.append(plain(result.text))
    return truncate(": ".join(p for p in parts if p.strip()) or result.kind, MAX_FALLBACK_TEXT)


def render(result: Result, *, button_command: str | None = None, max_messages: int | None = None) -> list[SlackMessage]:
    """Render a result as one or more messages, each at most 50 blocks.

    `button_command` adds a "Post to channel" button to the last message (ephemeral replies).
    `max_messages` caps the count (response_url takes 5 replies); what does not fit is replaced by a
    note saying how many blocks were left out, so the reader knows the reply was shortened.
    """
    blocks = body_blocks(result) or [_context(escape(result.kind))]
    tail: list[Block] = []
    button = post_button(button_command) if button_command else None
    if button:
        tail.append(button)
    capacity = MAX_BLOCKS * (max_messages or 1_000_000) - len(tail)
    if len(blocks) > capacity:
        keep = capacity - 1
        dropped = len(blocks) - keep
        blocks = blocks[:keep] + [_context(f"… {dropped} more blocks not shown: narrow the command to see them.")]
    blocks = blocks + tail
    text = fallback_text(result)
    pages = [blocks[i : i + MAX_BLOCKS] for i in range(0, len(blocks), MAX_BLOCKS)]
    return [
        SlackMessage(text=text if n == 0 else f"{truncate(text, 200)} (part {n + 1})", blocks=page)
        for n, page in enumerate(pages)
    ]


MAX_HOME_BLOCKS = 100  # a Home tab view


def home_view(result: Result) -> dict[str, Any]:
    """A result as the App Home tab (`views.publish`): one view of at most 100 blocks."""
    blocks = body_blocks(result) or [_context(escape(result.kind))]
    if len(blocks) > MAX_HOME_BLOCKS:
        blocks = blocks[: MAX_HOME_BLOCKS - 1] + [_context("… more not shown: `/news home` in a channel lists it all.")]
    return {"type": "home", "blocks": blocks}


def validate(blocks: list[Block]) -> list[str]:
    """The limits this module promises, as a checker: the tests' oracle and a debug aid."""
    problems: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"{len(blocks)} blocks > {MAX_BLOCKS}")
    for n, block in enumerate(blocks):
        kind = block["type"]
        if kind == "header" and not 0 < len(block["text"]["text"]) <= MAX_HEADER_TEXT:
            problems.append(f"block {n}: header length {len(block['text']['text'])}")
        if kind == "section" and not 0 < len(block["text"]["text"]) <= MAX_SECTION_TEXT:
            problems.append(f"block {n}: section length {len(block['text']['text'])}")
        if kind == "context":
            for el in block["elements"]:
                if not 0 < len(el["text"]) <= MAX_CONTEXT_TEXT:
                    problems.append(f"block {n}: context length {len(el['text'])}")
        if kind == "actions":
            for el in block["elements"]:
                if len(el.get("value", "")) > MAX_BUTTON_VALUE:
                    problems.append(f"block {n}: button value too long")
    return problems
