"""A `Result` as plain text: the console adapter's output, `newsbot ask`, `digest --print`, logs.

Pure and adapter-neutral (plain text is no platform), so `bot/` can print results without
importing `adapters/`.
"""

from __future__ import annotations

from bot.chat.messages import Item, Result


def plain(text: str) -> str:
    """Drop the `**bold**` marks search highlights carry."""
    return text.replace("**", "")


def render_item(item: Item, number: int | None = None) -> list[str]:
    bullet = f"{number}. " if number is not None else "- "
    lines = [bullet + plain(item.title)]
    pad = " " * len(bullet)
    if item.meta:
        lines.append(pad + plain(item.meta))
    if item.body:
        lines.extend(pad + plain(line) for line in item.body.splitlines() if line.strip())
    for name, value in item.fields:
        lines.append(f"{pad}{name}: {plain(value)}")
    if item.url and item.url != item.title:  # an untitled feed or page is named by its URL already
        lines.append(pad + item.url)
    return lines


def render_text(result: Result) -> str:
    lines: list[str] = [plain(result.title)] if result.title else []
    if result.text:
        lines.append(plain(result.text))
    if result.suggestions and "did you mean" not in (result.text or "").lower():
        lines.append("Did you mean: " + ", ".join(result.suggestions) + "?")
    number = result.page.offset + 1 if result.page else 1
    numbered = result.kind in ("search", "quotes")
    for section in result.sections:
        lines.append("")
        if section.heading:
            lines.append(f"## {plain(section.heading)}")
        if section.text:
            lines.append(plain(section.text))
        for item in section.items:
            lines.extend(render_item(item, number if numbered else None))
            number += 1
    shown = {i.url for s in result.sections for i in s.items}
    if result.link and result.link not in shown:
        lines.append(result.link)
    if result.footer:
        lines.append("")
        lines.append(plain(result.footer))
    if result.page:
        lines.append(f"more: {result.page.next_command}")
    return "\n".join(lines).rstrip() + "\n"
