"""The learned attribution: shipped weights, candidates, confidence, cues and alert gating.

Every sentence here is written for these tests (none comes from a corpus).
"""

from __future__ import annotations

import json
import time
from datetime import date
from importlib import resources

import pytest

from bot.statements import Statement, extract_statements
from bot.statements.alerts import ALERT_THRESHOLD, ALERT_THRESHOLD_REPORTED, alertable
from bot.statements.figures import Figure
from bot.statements.names import is_bare_title, is_party_tag, looks_lowercase_elsewhere
from bot.statements.weights import WEIGHTS_FILE, parse, shipped

DAY = date(2025, 6, 9)


@pytest.fixture(scope="module")
def figures() -> list[Figure]:
    from bot.config import load_config

    return load_config().figure_list()


def test_shipped_weights_load_with_provenance() -> None:
    w = shipped()
    assert w.speaker and w.cue and w.vocab
    assert 0.0 < w.cue_threshold < 1.0
    pkg = resources.files("bot.statements")
    prov = json.loads(pkg.joinpath("attribution_weights.provenance.json").read_text(encoding="utf-8"))
    assert "PolNeAR" in prov["corpus"] and prov["split"].startswith("train")
    assert prov["command"].startswith("python tools/train_attribution.py")
    raw = pkg.joinpath(WEIGHTS_FILE).read_text(encoding="utf-8")
    assert len(raw) < 1_000_000  # a small JSON: start-up and memory stay as they were


def test_weights_load_fast() -> None:
    raw = json.loads(resources.files("bot.statements").joinpath(WEIGHTS_FILE).read_text(encoding="utf-8"))
    t = time.perf_counter()
    parse(raw)
    assert time.perf_counter() - t < 0.5


def test_empty_weights_leave_the_rules_alone() -> None:
    w = parse({})
    assert not w.speaker and not w.cue and w.vocab == ()


@pytest.mark.parametrize(
    ("name", "tag"),
    [("D-Wis", True), ("R-Utah", True), ("(R)", True), ("D", True), ("Gwen Moore", False), ("Dodd", False)],
)
def test_party_state_tags_are_not_names(name: str, tag: bool) -> None:
    assert is_party_tag(name) is tag


def test_bare_titles_and_sentence_initial_adverbs() -> None:
    assert is_bare_title("Rev.") and is_bare_title("Del") and not is_bare_title("Delgado")
    text = "Unfortunately, the vote failed. It was, unfortunately, close."
    assert looks_lowercase_elsewhere(text, "Unfortunately")
    assert not looks_lowercase_elsewhere("Moore spoke. Then Moore left.", "Moore")


def test_party_tag_never_speaks(figures: list[Figure]) -> None:
    text = "“We will not accept this,” said Rep. Anna Berglund (D-Minn.), who chairs the panel."
    st = extract_statements(text, figures, DAY)
    quote = next(s for s in st if s.kind == "direct")
    assert quote.speaker is not None and "Berglund" in quote.speaker


def test_hyphenated_given_name_is_whole(figures: list[Figure]) -> None:
    text = "“The council must act now,” said Lee Ji-hoon, the envoy."
    quote = next(s for s in extract_statements(text, figures, DAY) if s.kind == "direct")
    assert quote.speaker is not None and "Ji" in quote.speaker


def test_every_statement_has_confidence_and_a_cue(figures: list[Figure]) -> None:
    text = (
        "Rutte said on Tuesday that the alliance would double its air defence orders.\n\n"
        "“We are not going to wait,” Rutte told reporters in Brussels."
    )
    st = extract_statements(text, figures, DAY)
    assert {s.kind for s in st} == {"direct", "reported"}
    for s in st:
        assert s.speaker == "Mark Rutte"
        assert s.cue in ("said", "told")
        assert s.confidence is not None and 0.0 < s.confidence <= 1.0
        assert s.attributed is not None


def test_a_request_keeps_its_cue(figures: list[Figure]) -> None:
    text = "Rutte urged Zelensky to take a softer line with Washington."
    rep = [s for s in extract_statements(text, figures, DAY) if s.kind == "reported"]
    assert rep and rep[0].speaker == "Mark Rutte" and rep[0].cue == "urged"


def test_pronoun_attribution_is_said(figures: list[Figure]) -> None:
    text = "Kallas arrived in Kyiv on Monday.\n\n“Russia is not serious about peace,” she said."
    quote = next(s for s in extract_statements(text, figures, DAY) if s.kind == "direct")
    assert quote.speaker == "Kaja Kallas"
    assert quote.attributed == "pronoun"


def test_running_speaker_across_quote_paragraphs(figures: list[Figure]) -> None:
    text = (
        "“We have to spend more,” Rutte said at the summit.\n\n"
        "“And we have to spend it faster, because the threat is not going away.”"
    )
    quotes = [s for s in extract_statements(text, figures, DAY) if s.kind == "direct"]
    assert [q.speaker for q in quotes] == ["Mark Rutte", "Mark Rutte"]


def test_scare_quote_has_no_speaker(figures: list[Figure]) -> None:
    text = "The so-called “peace dividend” has long been spent, the report found."
    quote = next(s for s in extract_statements(text, figures, DAY) if s.kind == "direct")
    assert quote.speaker is None


def test_learned_stance_verbs_give_reported_speech(figures: list[Figure]) -> None:
    text = (
        "Merz spoke at length in the Bundestag on Thursday about the budget.\n\n"
        "Merz defended the decision to lift the debt brake for defence spending, saying the country had no choice."
    )
    rep = [s for s in extract_statements(text, figures, DAY) if s.kind == "reported"]
    assert any(s.speaker == "Friedrich Merz" for s in rep)


def test_alert_gate_uses_confidence_by_kind() -> None:
    def st(kind: str, conf: float | None) -> Statement:
        return Statement("Mark Rutte", kind, "we stand with Kyiv", 0, 18, "said", True, conf)

    assert 0.0 < ALERT_THRESHOLD <= ALERT_THRESHOLD_REPORTED <= 1.0
    assert alertable(st("direct", ALERT_THRESHOLD))
    assert not alertable(st("direct", ALERT_THRESHOLD - 0.01))
    assert not alertable(st("reported", ALERT_THRESHOLD_REPORTED - 0.01))
    assert alertable(st("reported", None))  # without a model the rules decide, as before


def test_as_dict_carries_the_new_fields(figures: list[Figure]) -> None:
    s = extract_statements("“It is over,” Rutte said.", figures, DAY)[0]
    d = s.as_dict()
    assert d["cue"] == "said" and isinstance(d["confidence"], float) and d["attributed"] in ("cue", "inverted")


@pytest.mark.xfail(strict=True, reason="known miss: the learned ranker gives a quote introduced by a second speaker "
                   "in the same sentence to the sentence's first subject (kept below the alert threshold)")
def test_a_second_speaker_introducing_a_quote_in_the_same_sentence_is_its_speaker(figures: list[Figure]) -> None:
    text = ('NATO Secretary General Mark Rutte said allies "will not waver in their support this winter," while '
            'Ukrainian President Volodymyr Zelensky said: "We need more air defence systems right now."')
    found = {s.text: s for s in extract_statements(text, figures, DAY)}
    second = found["We need more air defence systems right now."]
    assert second.speaker is not None
    assert second.speaker == "Volodymyr Zelensky", second


def _proposed(text: str) -> dict[str, set[str]]:
    from bot.config import load_config
    from bot.statements.extract import reported_proposals
    from bot.statements.speakers import Gazetteer

    gazetteer = Gazetteer(load_config().figure_list())
    out: dict[str, set[str]] = {}
    for p in reported_proposals(text, gazetteer, DAY, shipped().vocab):
        form = next(f.split("=", 1)[1] for f in p.feats if f.startswith("form="))
        out.setdefault(form, set()).add(text[p.start : p.end])
    return out


def test_an_object_with_its_prepositional_phrases_is_proposed() -> None:
    got = _proposed("Councillor Ada Brennan criticized the cost of the new tram line in the city centre, and left early.")
    assert "the cost" in got["np"]
    assert "the cost of the new tram line in the city centre" in got["np_pp"]


def test_an_infinitive_complement_is_proposed() -> None:
    got = _proposed("Mayor Tomas Verhoef declined to name a successor because the vote was close.")
    assert got["inf"] == {"to name a successor"}


def test_a_subordinate_clause_ends_the_object() -> None:
    got = _proposed("Ada Brennan praised the volunteers at the shelter while the council debated the budget.")
    assert "the volunteers at the shelter" in got["np_pp"]


def test_reported_floor_loads_and_defaults_to_keeping_everything() -> None:
    assert parse({}).reported_floor == 0.0
    assert parse({"reported_floor": 0.25}).reported_floor == 0.25
    assert 0.0 <= shipped().reported_floor < 1.0


def test_learned_speech_below_the_floor_is_dropped_and_the_rules_speech_kept(figures: list[Figure]) -> None:
    """The floor is set for what the learned cues add; "she said ..." is the rules' own find."""
    from dataclasses import replace

    from bot.statements import extract as ex
    from bot.statements.speakers import Gazetteer

    text = "Councillor Ada Brennan criticized the cost of the new tram line. She said the city could not afford it."
    gazetteer = Gazetteer(figures)
    kept = ex._rank(*ex._rule_statements(text, gazetteer, DAY, shipped()), shipped())
    rep = [s for s in kept if s.kind == "reported"]
    assert {s.text for s in rep} == {"the cost of the new tram line", "the city could not afford it"}
    strict = replace(shipped(), reported_floor=max(s.confidence or 0.0 for s in rep) + 0.001)
    after = [s for s in ex._rank(*ex._rule_statements(text, gazetteer, DAY, strict), strict) if s.kind == "reported"]
    assert [s.text for s in after] == ["the city could not afford it"] and "Ada Brennan" in (after[0].speaker or "")


# --------------------------------------------------------------------------- name parsing


def _names(text: str, figures: list[Figure]) -> list[str]:
    from bot.statements.speakers import Gazetteer

    return [m.name or "" for m in Gazetteer.build(figures).names(text, 0, len(text))]


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Envoy Choi Min-seo arrived late.", "Choi Min-seo"),
        ("Yoon Dae-jung spoke first.", "Yoon Dae-jung"),
        ("Commander Abu Karim al-Masri left the city.", "Abu Karim al-Masri"),
        ("Judge Pieter van den Berg ruled on Monday.", "Pieter van den Berg"),
    ],
)
def test_hyphenated_and_particle_names_stay_whole(text: str, name: str, figures: list[Figure]) -> None:
    assert name in _names(text, figures)


def test_a_hyphenated_modifier_is_not_part_of_a_name(figures: list[Figure]) -> None:
    got = _names("The Grant-era rules and the Hale-backed bill both failed.", figures)
    assert "Grant-era" not in got and "Hale-backed" not in got


@pytest.mark.parametrize(
    "text",
    [
        "Rep. Dana Whitlock (D-Ore.) voted no.",
        "Sen. Omar Castellanos (R) voted no.",
        "Rep. Ellen Hartig, R-N.M., voted no.",
        "Del. Ruth Ambler (D-Newport News) voted no.",
    ],
)
def test_party_state_tags_are_skipped_by_the_name_scanner(text: str, figures: list[Figure]) -> None:
    got = _names(text, figures)
    assert len(got) == 1 and not any(t in got[0] for t in ("D-", "R-", "(", "Ore", "N.M"))


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Rev. Tomas Ekberg led the march.", "Tomas Ekberg"),
        ("House Rep. Lila Brandt objected.", "Lila Brandt"),
        ("State Sen. Marco Feld objected.", "Marco Feld"),
    ],
)
def test_a_title_abbreviation_is_not_part_of_the_name(text: str, name: str, figures: list[Figure]) -> None:
    assert _names(text, figures) == [name]


def test_titles_adverbs_and_shouted_headlines_are_not_names() -> None:
    from bot.statements.speakers import not_a_name

    for word in ("Rev.", "Sens.", "D-Ore", "R", "Regrettably", "Unfortunately", "MARKETS TUMBLE AFTER VOTE"):
        assert not_a_name(word), word
    for name in ("Kelly", "Reilly", "Donnelly", "Dana Whitlock", "ASSOCIATED PRESS", "Ban Ki-moon"):
        assert not not_a_name(name), name


def test_an_inverted_speaker_with_a_hyphenated_name_and_a_party_tag(figures: list[Figure]) -> None:
    text = (
        "“Nobody in this chamber wants a shutdown,” said Sen. Park Ji-won (D-Haw.) on Tuesday.\n\n"
        "“Unfortunately, the votes are not there,” said Rep. Tessa Morrow (R-Kan.)."
    )
    quotes = [s for s in extract_statements(text, figures, DAY) if s.kind == "direct"]
    assert [q.speaker for q in quotes] == ["Park Ji-won", "Tessa Morrow"]


def test_a_speaker_named_with_a_party_tag_before_the_cue(figures: list[Figure]) -> None:
    text = "At the hearing, Rep. Ivo Kessler (R-Ind.) said “the agency has ignored every subpoena we sent.”"
    quote = next(s for s in extract_statements(text, figures, DAY) if s.kind == "direct")
    assert quote.speaker == "Ivo Kessler"


def test_null_bar_loads_and_defaults_to_off() -> None:
    assert parse({}).null_bar == 0.0
    assert parse({"null_bar": 0.6}).null_bar == 0.6


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Councillor Ada Brennan opened the meeting.", "Ada Brennan"),
        ("Assemblywoman Rosa Delgado left early.", "Rosa Delgado"),
        ("Sheriff Dale Okafor closed the road.", "Dale Okafor"),
        ("Rabbi Eli Stern spoke at the vigil.", "Eli Stern"),
    ],
)
def test_local_and_religious_titles_are_not_part_of_the_name(text: str, name: str, figures: list[Figure]) -> None:
    assert _names(text, figures) == [name]


def test_a_name_signing_a_quotation_after_a_dash_is_its_speaker(figures: list[Figure]) -> None:
    text = (
        "Readers wrote to us about the new bridge toll.\n\n"
        "“We will be paying for this bridge for the rest of our lives.” ― Ada Brennan\n"
        "“Nobody asked the people who cross it every morning.” ― Tom Reilly"
    )
    quotes = [s for s in extract_statements(text, figures, DAY) if s.kind == "direct"]
    assert [q.speaker for q in quotes] == ["Ada Brennan", "Tom Reilly"]
    assert quotes[1].attributed == "dash"


def test_a_dashed_signature_on_the_next_line_names_the_speaker(figures: list[Figure]) -> None:
    text = (
        "The council voted on Tuesday night.\n\n"
        "“This is the best budget the town has passed in a decade.”\n\n"
        "- Mayor Ines Valdivia, after the vote.\n\n"
        "“We cut the library hours and called it reform.”\n\n"
        "- Councilman Joel Pratt."
    )
    quotes = [s for s in extract_statements(text, figures, DAY) if s.kind == "direct"]
    assert [q.speaker for q in quotes] == ["Ines Valdivia", "Joel Pratt"]
