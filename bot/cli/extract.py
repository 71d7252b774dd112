"""`newsbot extract --json FILE_OR_URL...`: clean one article and list its statements, archive untouched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from bot.archive.statement_store import gazetteer_for
from bot.cli.base import Failure, echo_json, run_async, runtime
from bot.config import AppConfig
from bot.statements.alerts import alertable
from bot.text.clean import CleanDoc, clean_text
from bot.text.prepare import article_topics


def describe(source: str, doc: CleanDoc, config: AppConfig) -> dict[str, Any]:
    """The contract's JSON object for one cleaned article (pure)."""
    from bot.statements.extract import extract_with  # here: `newsbot run` loads no extractor (its parse workers do)

    found = extract_with(doc.text, gazetteer_for(config), doc.published)
    return {
        "source": source,
        "title": doc.title,
        "published": doc.published.isoformat() if doc.published else None,
        "topics": list(article_topics(doc.title, doc.text, config.topic_keywords())),
        "text": doc.text,
        "statements": [{**s.as_dict(), "alert": s.figure and alertable(s)} for s in found],
    }


async def _fetch_doc(url: str, rt: Any) -> CleanDoc:
    from bot.fulltext.extract import PageError, fetch_and_extract  # the full-text path: safe fetcher + trafilatura

    try:
        return await fetch_and_extract(url, rt.settings, rt.config)
    except PageError as exc:
        raise Failure(str(exc)) from None


def register(app: typer.Typer) -> None:
    @app.command()
    def extract(
        sources: list[str] = typer.Argument(..., help="Plain-text or HTML files, or http(s) URLs."),
        as_json: bool = typer.Option(False, "--json", help="JSON Lines, one object per input."),
    ) -> None:
        """Clean articles and extract their statements, without touching the archive."""
        rt = runtime()
        failed = 0
        for source in sources:
            try:
                if source.startswith(("http://", "https://")):
                    doc = run_async(lambda source=source: _fetch_doc(source, rt))  # type: ignore[misc]
                else:
                    path = Path(source)
                    if not path.is_file():
                        raise Failure(f"{source}: no such file")
                    doc = clean_text(path.read_text(encoding="utf-8", errors="replace"))
            except Failure as exc:
                typer.echo(f"newsbot: {exc}", err=True)
                failed += 1
                continue
            obj = describe(source, doc, rt.config)
            if as_json:
                echo_json(obj)
            else:
                typer.echo(f"== {source}: {obj['title'] or '(no title)'} ({obj['published'] or 'undated'})")
                for s in obj["statements"]:
                    how = f", by {s['attributed']}" if s["attributed"] in ("pronoun", "description", "running") else ""
                    cue = f" ({s['cue']}{how}, {s['confidence']})" if s["cue"] or how else ""
                    typer.echo(f"  [{s['kind']}] {s['speaker'] or '?'}{cue}: {s['text']}")
        if failed:
            raise typer.Exit(1)
