"""Statement extraction: seed acceptance cases, each pattern, offsets and the benchmark targets."""

from __future__ import annotations

import importlib.util
import sys
from datetime import date
from pathlib import Path
from types import ModuleType

import pytest

from bot.config import load_figures
from bot.statements import Gazetteer, Statement, extract_statements, extract_with
from bot.statements.figures import Figure

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"


def _benchmark() -> ModuleType:
    """benchmarks/extraction.py as a module: the tests score through the benchmark's own code."""
    name = "newsbot_benchmark_extraction"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "extraction.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def figures() -> list[Figure]:
    return load_figures(ROOT / "config" / "newsbot.yaml")


def seed(prefix: str) -> str:
    return next(SEEDS.glob(f"{prefix}_*.txt")).read_text(encoding="utf-8")


def by_text(statements: list[Statement], fragment: str, kind: str | None = None) -> Statement:
    for s in statements:
        if fragment in s.text and (kind is None or s.kind == kind):
            return s
    raise AssertionError(f"no statement containing {fragment!r}: {[s.text for s in statements]}")


# --------------------------------------------------------------------------- seed acceptance


@pytest.mark.parametrize("prefix", ["000", "002"])
def test_rutte_irreversible(figures: list[Figure], prefix: str) -> None:
    st = extract_statements(seed(prefix), figures, date(2025, 6, 9))
    s = by_text(st, "irreversible", "direct")
    assert s.speaker == "Mark Rutte" and s.figure


def test_seed_004_trump_and_zakharova(figures: list[Figure]) -> None:
    st = extract_statements(seed("004"), figures, date(2025, 3, 3))
    assert by_text(st, "Come back when you’re ready to pursue peace.", "direct").speaker == "Donald Trump"
    assert by_text(st, "complete political and diplomatic failure", "direct").speaker == "Maria Zakharova"
    assert by_text(st, "fiasco", "direct").speaker == "Marco Rubio"


def test_seed_001_pronoun_resolves_to_rutte(figures: list[Figure]) -> None:
    st = extract_statements(seed("001"), figures, date(2025, 10, 20))
    s = by_text(st, "I have total confidence in President Trump. He’s the only one who can get this done")
    assert s.kind == "direct" and s.speaker == "Mark Rutte" and s.cue == "stated"


def test_seed_003_reported_not_direct(figures: list[Figure]) -> None:
    st = extract_statements(seed("003"), figures, date(2025, 3, 14))
    s = by_text(st, "Ukraine’s membership in NATO is no longer being considered")
    assert s.kind == "reported" and s.speaker == "Mark Rutte"
    assert not [x for x in st if x.kind == "direct" and x.speaker == "Mark Rutte"]


@pytest.mark.parametrize("prefix", ["000", "001", "002", "003", "004"])
def test_seeds_boilerplate_and_offsets(figures: list[Figure], prefix: str) -> None:
    text = seed(prefix)
    st = extract_statements(text, figures, date(2025, 6, 9))
    for s in st:
        assert text[s.start : s.end] == s.text
        assert s.kind in ("direct", "reported")
        assert s.text not in ("*", "Enter")
        assert "skip to content" not in s.text and "required fields" not in s.text


# --------------------------------------------------------------------------- patterns


PATTERNS: list[tuple[str, date, str, str, str | None]] = [
    # (text, published, fragment of the statement, kind, speaker)
    ("“We stand with Kyiv,” Rutte said.", date(2025, 1, 5), "We stand with Kyiv", "direct", "Mark Rutte"),
    ('"We stand with Kyiv," said Rutte.', date(2025, 1, 5), "We stand with Kyiv", "direct", "Mark Rutte"),
    ("Rutte said: “We stand with Kyiv.”", date(2025, 1, 5), "We stand with Kyiv", "direct", "Mark Rutte"),
    ("‘We stand with Kyiv,’ Rutte said.", date(2025, 1, 5), "We stand with Kyiv", "direct", "Mark Rutte"),
    ("'We won't back down,' Zelensky said.", date(2025, 1, 5), "We won't back down", "direct", "Volodymyr Zelensky"),
    ("Rutte: ‘Ukraine’s place is in NATO’", date(2025, 1, 5), "Ukraine’s place is in NATO", "direct", "Mark Rutte"),
    ("“It is over,” the NATO chief said.", date(2023, 1, 5), "It is over", "direct", "Jens Stoltenberg"),
    ("“It is over,” the NATO chief said.", date(2025, 1, 5), "It is over", "direct", "Mark Rutte"),
    ("“It is over,” the alliance’s chief said.", date(2025, 1, 5), "It is over", "direct", "Mark Rutte"),
    ("“Time is short,” Rutte, the NATO chief, said.", date(2025, 1, 5), "Time is short", "direct", "Mark Rutte"),
    ("NATO Secretary General Mark Rutte said that allies must spend more.", date(2025, 1, 5),
     "allies must spend more", "reported", "Mark Rutte"),
    ("Putin told reporters that the offensive would continue.", date(2025, 1, 5),
     "the offensive would continue", "reported", "Vladimir Putin"),
    ("According to Lavrov, the talks were useful.", date(2025, 1, 5), "the talks were useful", "reported",
     "Sergey Lavrov"),
    ("Rutte called on allies to send more air defence.", date(2025, 1, 5), "allies to send more air defence",
     "reported", "Mark Rutte"),
    ("Macron urged Europeans to buy European weapons.", date(2025, 1, 5), "Europeans to buy European weapons",
     "reported", "Emmanuel Macron"),
    ("Rubio described the incident as a “fiasco”.", date(2025, 3, 3), "fiasco", "direct", "Marco Rubio"),
    ("Rutte stressed that Ukraine’s path to NATO is “irreversible”.", date(2025, 1, 5), "irreversible",
     "direct", "Mark Rutte"),
    ("Zakharova spoke first. “This is a farce,” she said.", date(2025, 1, 5), "This is a farce", "direct",
     "Maria Zakharova"),
    ("“We are ready,” a senior official said.", date(2025, 1, 5), "We are ready", "direct", None),
    ("Sources said the deal was close.", date(2025, 1, 5), "the deal was close", "reported", None),
    ("Leaders of the so-called “coalition of the willing” met.", date(2025, 1, 5), "coalition of the willing",
     "direct", None),
    ("“Enough is enough,” said Senator John Smith.", date(2025, 1, 5), "Enough is enough", "direct",
     "John Smith"),
    ("Chancellor Olaf Scholz said Germany would help.", date(2024, 1, 5), "Germany would help", "reported",
     "Olaf Scholz"),
    ("Merz said it, adding that Europe must act.", date(2025, 6, 5), "Europe must act", "reported",
     "Friedrich Merz"),
    ("Rutte told the summit the alliance must spend more.", date(2025, 6, 5), "the alliance must spend more",
     "reported", "Mark Rutte"),
    ("European leaders said the plan was unacceptable.", date(2025, 6, 5), "the plan was unacceptable",
     "reported", None),
    ("Drones hit Kyiv overnight, according to Ukraine’s air force.", date(2025, 6, 5), "Drones hit Kyiv",
     "reported", "Ukraine’s air force"),
    ("“Hello,” the former NATO chief said.", date(2025, 6, 5), "Hello", "direct", "Jens Stoltenberg"),
    ("“We are ready,” said US President Joe Biden.", date(2023, 6, 5), "We are ready", "direct", "Joe Biden"),
    ("Mr. Lammy said Britain would act. “We will,” he added.", date(2025, 6, 5), "We will", "direct", "Lammy"),
    ("NATO will bolster its eastern flank, Secretary General Mark Rutte said on Friday.", date(2025, 9, 12),
     "NATO will bolster its eastern flank", "reported", "Mark Rutte"),
    ("The talks will continue next week, said Witkoff.", date(2025, 9, 12), "The talks will continue",
     "reported", "Steve Witkoff"),
    ("As Rutte said, the alliance is strong.", date(2025, 9, 12), "the alliance is strong", "reported",
     "Mark Rutte"),
]


@pytest.mark.parametrize(
    "text",
    [
        "Needless to say, the talks failed.",
        "Putin is said to be furious.",
        "Trump has said many things about NATO.",
        "That said, the alliance remains divided.",
        "In contrast to Trump, Rutte emphasized continued support for Ukraine.",
        "Rutte met Trump for breakfast before the session.",
    ],
)
def test_no_statement(figures: list[Figure], text: str) -> None:
    assert extract_statements(text, figures, date(2025, 6, 1)) == []


def test_relative_clause_ends_the_reported_clause(figures: list[Figure]) -> None:
    text = "Zelensky, who said last week that the war could end this year, arrived in Rome."
    s = extract_statements(text, figures, date(2025, 6, 1))[0]
    assert (s.speaker, s.text) == ("Volodymyr Zelensky", "the war could end this year")


@pytest.mark.parametrize(("text", "published", "fragment", "kind", "speaker"), PATTERNS)
def test_patterns(
    figures: list[Figure], text: str, published: date, fragment: str, kind: str, speaker: str | None
) -> None:
    st = extract_statements(text, figures, published)
    s = by_text(st, fragment, kind)
    assert s.speaker == speaker, st
    assert text[s.start : s.end] == s.text
    assert s.figure == (speaker is not None and speaker in {f.name for f in figures})


def test_split_quote_same_speaker(figures: list[Figure]) -> None:
    text = "“We are close,” Witkoff said. “But not there yet.”"
    st = [s for s in extract_statements(text, figures, date(2025, 4, 1)) if s.kind == "direct"]
    assert [s.speaker for s in st] == ["Steve Witkoff", "Steve Witkoff"]


def test_paragraph_continuation(figures: list[Figure]) -> None:
    text = "“Europe must wake up. We cannot wait.\n\n“That is why we act now,” Macron said."
    st = extract_statements(text, figures, date(2025, 4, 1))
    assert [s.speaker for s in st if s.kind == "direct"] == ["Emmanuel Macron", "Emmanuel Macron"]


def test_apostrophes_are_not_quotes(figures: list[Figure]) -> None:
    text = "The leaders’ talks at St. Peter’s didn’t help Ukraine’s case, and Francis’ legacy loomed."
    assert extract_statements(text, figures, date(2025, 4, 1)) == []


def test_noun_phrase_object_is_not_reported(figures: list[Figure]) -> None:
    text = "Rutte stressed the importance of unity and noted the progress made."
    assert extract_statements(text, figures, date(2025, 4, 1)) == []


def test_period_quote_not_attributed_to_next_sentence(figures: list[Figure]) -> None:
    text = "Trump said: “Come back when you are ready.” Rubio later described it as a “fiasco”."
    st = extract_statements(text, figures, date(2025, 3, 3))
    assert by_text(st, "Come back").speaker == "Donald Trump"
    assert by_text(st, "fiasco").speaker == "Marco Rubio"


def test_subordinate_clause_ends_before_main_clause(figures: list[Figure]) -> None:
    text = "While the Kremlin said talks could resume, the response in Kyiv was cool."
    s = by_text(extract_statements(text, figures, date(2025, 4, 1)), "talks could resume", "reported")
    assert s.text == "talks could resume" and s.speaker == "Kremlin"


def test_two_reported_clauses_in_one_sentence(figures: list[Figure]) -> None:
    text = "Rutte said the allies were united, while Lavrov said the West was prolonging the war."
    st = extract_statements(text, figures, date(2025, 4, 1))
    assert [(s.speaker, s.text) for s in st] == [
        ("Mark Rutte", "the allies were united"),
        ("Sergey Lavrov", "the West was prolonging the war"),
    ]


def test_pronoun_prefers_the_speaker_just_quoted(figures: list[Figure]) -> None:
    text = (
        "Peskov said Putin had accepted. Asked whether he would invite Zelensky, Trump replied, "
        "“He could be there.” Later he wrote that the meeting would be “very productive.”"
    )
    st = extract_statements(text, figures, date(2025, 8, 10))
    assert by_text(st, "very productive", "direct").speaker == "Donald Trump"


def test_participle_shares_subject_and_coordination(figures: list[Figure]) -> None:
    text = (
        "French President Emmanuel Macron and German Chancellor Olaf Scholz reaffirmed their support, "
        "emphasizing that the EU remains steadfast."
    )
    s = by_text(extract_statements(text, figures, date(2025, 3, 3)), "the EU remains steadfast")
    assert s.speaker == "Emmanuel Macron"


def test_prebuilt_gazetteer_is_cached(figures: list[Figure]) -> None:
    g = Gazetteer.build(figures)
    assert Gazetteer.build(list(figures)) is g
    assert extract_with("“Yes,” Rutte said.", g, date(2025, 1, 1))[0].speaker == "Mark Rutte"


def test_as_dict_matches_contract(figures: list[Figure]) -> None:
    s = extract_statements("Rutte stressed that it is “irreversible”.", figures, date(2025, 6, 9))[-1]
    d = s.as_dict()
    assert set(d) >= {"speaker", "kind", "text", "start", "end", "cue"}


# --------------------------------------------------------------------------- labelled set


def test_labelled_set_offsets_and_targets(figures: list[Figure]) -> None:
    bench = _benchmark()
    cases = bench.load_cases()
    assert len([c for c in cases if c.split != "seed"]) >= 80
    gazetteer = Gazetteer.build(figures)
    for case in cases:
        for s in extract_with(case.text, gazetteer, case.published):
            assert case.text[s.start : s.end] == s.text, case.id
    scores = bench.evaluate(cases, gazetteer)["all"]
    assert scores.f1() >= bench.TARGET_QUOTE_F1, scores.misses
    assert scores.speaker_accuracy() >= bench.TARGET_SPEAKER_ACCURACY, scores.misses
    assert scores.recall("reported") >= 0.85, scores.misses


# --------------------------------------------------------------------------- wire-copy patterns (heldout3 work)


@pytest.mark.parametrize(
    ("text", "day", "kind", "fragment", "speaker"),
    [
        ("The plan, Merz said on Friday, would cost billions.", date(2025, 6, 1), "reported", "would cost billions", "Friedrich Merz"),
        ("Putin's spokesman said the Kremlin had seen no sign of progress.", date(2025, 5, 1), "reported", "no sign", "Dmitry Peskov"),
        ("Starmer's spokesman said the prime minister had spoken to Zelensky.", date(2025, 3, 3), "reported", "had spoken", "Starmer's spokesman"),
        ("Ukraine's air force said in a statement that 40 drones were downed.", date(2025, 7, 1), "reported", "40 drones", "Ukraine's air force"),
        ("According to Zelensky's spokesman, Serhiy Nykyforov, the call lasted an hour.", date(2025, 3, 1), "reported", "the call lasted", "Serhiy Nykyforov"),
        ("Macron and Starmer met in London. They said a force was ready to deploy.", date(2025, 7, 10), "reported", "a force was ready", "Emmanuel Macron"),
        ("Ministers met in Brussels. They said sanctions would be extended.", date(2025, 7, 10), "reported", "sanctions would", None),
        ("Kallas said the attack on Kyiv showed Moscow wanted war.\n\n“Russia is mocking diplomacy.”", date(2025, 4, 1), "direct", "mocking", "Kaja Kallas"),
    ],
)
def test_wire_copy_patterns(figures: list[Figure], text: str, day: date, kind: str, fragment: str, speaker: str | None) -> None:
    st = extract_statements(text, figures, day)
    s = by_text(st, fragment, kind)
    assert s.speaker == speaker
    assert text[s.start : s.end] == s.text


def test_parenthetical_needs_a_predicate(figures: list[Figure]) -> None:
    """"The convoy, which left at dawn, arrived" has no speaker; a clause before the commas is no subject."""
    assert extract_statements("The convoy, which left Lviv at dawn, reached the front by evening.", figures) == []
    st = extract_statements("Talks failed, Rutte said, and the summit ended early.", figures, date(2025, 6, 1))
    assert all("and the summit ended early" not in s.text for s in st)
