"""Live partials: committed words stay fixed; new hypotheses are aligned on the last committed words."""

from __future__ import annotations

from scaiecho_module.backends.recognizer import VadRecognizer, _after
from tests.unit import synth
from tests.unit.recognizer_driver import Script, run


def _words(text: str) -> list[str]:
    return text.split()


# -- alignment of a hypothesis on the committed words ---------------------------------------


def test_with_nothing_committed_the_whole_hypothesis_is_new() -> None:
    assert _after([], _words("and so it begins")) == ["and", "so", "it", "begins"]


def test_a_hypothesis_that_adds_a_leading_word_neither_repeats_nor_replaces_committed_words() -> None:
    committed = _words("Mr. John Dashwood")
    assert _after(committed, _words("And Mr. John Dashwood had then")) == ["had", "then"]


def test_a_hypothesis_that_drops_a_leading_word_neither_repeats_nor_loses_words() -> None:
    committed = _words("And Mr. John Dashwood")
    assert _after(committed, _words("Mr. John Dashwood had then")) == ["had", "then"]


def test_alignment_ignores_case_and_punctuation() -> None:
    committed = ["Well,", "Mr.", "John"]
    assert _after(committed, _words("well mr john, Dashwood")) == ["Dashwood"]


def test_a_repeated_phrase_aligns_at_the_match_nearest_the_committed_position() -> None:
    committed = _words("I said no")
    # "I said no" occurs twice; the first occurrence is where the committed words are.
    assert _after(committed, _words("I said no and I said no again")) == _words("and I said no again")
    # With a leading word added, the nearest match still wins over the later one.
    assert _after(committed, _words("Oh I said no I said no")) == _words("I said no")


def test_fewer_last_words_align_when_the_hypothesis_changed_earlier_ones() -> None:
    committed = _words("the quick brown fox")
    # "quick" became "quack": the last two committed words still match.
    assert _after(committed, _words("the quack brown fox jumps")) == ["jumps"]
    # Only the last word matches.
    assert _after(committed, _words("a quack crown fox jumps")) == ["jumps"]


def test_without_any_match_the_hypothesis_is_split_by_position() -> None:
    committed = _words("one two three")
    assert _after(committed, _words("uno dos tres cuatro")) == ["cuatro"]


def test_a_hypothesis_shorter_than_the_committed_words_adds_nothing() -> None:
    assert _after(_words("one two three four"), _words("one two")) == []


# -- partials of a running utterance ----------------------------------------------------------


async def _partials(hypotheses: list[str]) -> list[str]:
    script = Script(partials=hypotheses)
    recognizer = VadRecognizer(script, partial_interval=1.0)
    deltas = await run(recognizer, synth.speech(len(hypotheses) + 1.5))
    await recognizer.close()
    return [d.text for d in deltas if not d.is_final]


async def test_words_two_hypotheses_agree_on_are_committed_and_a_new_leading_word_is_ignored() -> None:
    texts = await _partials(
        ["Mr. John", "Mr. John Dashwood", "And Mr. John Dashwood had", "And Mr. John Dashwood had then"]
    )
    assert texts == ["Mr. John", "Mr. John Dashwood", "Mr. John Dashwood had", "Mr. John Dashwood had then"]


async def test_committed_words_survive_a_hypothesis_that_rewrites_them() -> None:
    texts = await _partials(["Mr. John", "Mr. John Dashwood", "Mister Jon Dashwood said", "Mister Jon"])
    # "Mr. John" was agreed by the first two hypotheses: it never changes again.
    assert all(text.startswith("Mr. John") for text in texts)
    assert texts[2] == "Mr. John Dashwood said"
    assert "Mister" not in " ".join(texts)


async def test_only_the_uncommitted_tail_may_be_revised() -> None:
    texts = await _partials(["the cat", "the cat sat on", "the cat sat in the", "the dog sat in the hat"])
    # "on" was never agreed on, so "in" may replace it; "cat" was, so "dog" may not.
    assert texts == ["the cat", "the cat sat on", "the cat sat in the", "the cat sat in the hat"]


async def test_an_unchanged_partial_is_not_sent_again() -> None:
    texts = await _partials(["hello there", "hello there", "hello there", "hello there friend"])
    assert texts == ["hello there", "hello there friend"]
