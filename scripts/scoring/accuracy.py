"""Issue 15's accuracy tables: transcripts of the evaluation set (``scripts.material.eval_corpus``) by several
systems, scored against the references per subset (every clip, each speed, each voice), against one system taken as
the reference decoder, and on the clips' last word; rendered as Markdown rows for ``docs/accuracy.md``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scripts.scoring.wer import normalise, wer


@dataclass(frozen=True)
class SystemRun:
    """One system's transcripts of the set, in the set's order (None: not measured, a column of dashes), and its
    wall time (None when it came from the cache)."""

    name: str
    texts: tuple[str, ...] | None
    seconds: float | None = None


@dataclass(frozen=True)
class Subset:
    label: str
    indices: tuple[int, ...]


def subsets(references: Sequence[Mapping[str, str]]) -> list[Subset]:
    """Every clip, then each speed, then each voice (in the order they first appear)."""
    chosen = [Subset(f"all ({len(references)} clips)", tuple(range(len(references))))]
    for key in ("speed", "voice"):
        for value in dict.fromkeys(r[key] for r in references):
            indices = tuple(i for i, r in enumerate(references) if r[key] == value)
            chosen.append(Subset(f"{key} {value} ({len(indices)})", indices))
    return chosen


def subset_wer(references: Sequence[str], texts: Sequence[str], subset: Subset) -> float:
    return wer([references[i] for i in subset.indices], [texts[i] for i in subset.indices])


def last_word_right(reference: str, text: str) -> bool:
    """The hypothesis ends on the reference's last word (normalised)."""
    expected, got = normalise(reference).split(), normalise(text).split()
    return bool(expected) and bool(got) and expected[-1] == got[-1]


def wer_table(references: Sequence[Mapping[str, str]], runs: Sequence[SystemRun],
              against: SystemRun | None = None) -> list[str]:
    """Markdown: one row per subset, one column per system (WER against the reference texts), then the share of
    clips whose last word is right, then (with ``against``) each system's WER taking ``against``'s transcripts as
    the reference."""
    texts = [r["text"] for r in references]
    lines = ["| subset | " + " | ".join(run.name for run in runs) + " |", "|---|" + "---|" * len(runs)]
    for subset in subsets(references):
        cells = [_cell(run, lambda t: f"{subset_wer(texts, t, subset) * 100:.2f}%") for run in runs]
        lines.append(f"| {subset.label} | " + " | ".join(cells) + " |")
    cells = [_cell(run, lambda t: f"{sum(last_word_right(r, h) for r, h in zip(texts, t))}/{len(texts)}")
             for run in runs]
    lines.append("| last word right | " + " | ".join(cells) + " |")
    if against is not None:
        cells = [_cell(run, lambda t: f"{wer(list(against.texts), list(t)) * 100:.2f}%") for run in runs]
        lines.append(f"| WER against {against.name} | " + " | ".join(cells) + " |")
    timed = [_cell(run, lambda t: f"{run.seconds:.0f}" if run.seconds is not None else "cached") for run in runs]
    lines.append("| wall time (s) | " + " | ".join(timed) + " |")
    return lines


def _cell(run: SystemRun, figure) -> str:
    return "—" if run.texts is None else figure(run.texts)


def worst_clips(references: Sequence[Mapping[str, str]], names: Sequence[str], run: SystemRun,
                other: SystemRun, count: int = 10) -> list[str]:
    """Markdown list: the clips where ``run`` is furthest behind ``other`` (per-clip WER difference)."""
    gaps = []
    for i, (name, reference) in enumerate(zip(names, references)):
        ours, theirs = wer([reference["text"]], [run.texts[i]]), wer([reference["text"]], [other.texts[i]])
        if ours > theirs:
            gaps.append((ours - theirs, name, reference["text"], run.texts[i], other.texts[i]))
    gaps.sort(reverse=True)
    return [f"- `{name}` reference: {text!r}; {run.name}: {mine!r}; {other.name}: {theirs!r}"
            for _, name, text, mine, theirs in gaps[:count]]
