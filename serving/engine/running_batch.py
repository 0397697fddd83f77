"""The decoder's running batch: windows join and leave it between decoding steps (step-level scheduling).

A whole batch (:meth:`~serving.engine.token_search.TokenSearch.decode`) runs until its longest row ends: rows that end
early sit idle and a window that arrives meanwhile waits for the whole batch. Here the rows of the static caches are
slots. A window joins a free slot (its encoder states' cross-attention keys and values written into that slot only,
its prefix prefilled into that slot only, its first token chosen), every step advances all occupied slots together
(one graph per row bucket on a GPU, as the whole batch's), and a window that has ended leaves: its tokens are read and
its slot is free for the next window. A window's tokens are those the whole-batch search gives it: every row reads
only its own slot (its cache, its bound window, its position), as in a whole batch.

The slots used are the lowest free ones, so the occupied rows stay near the top of the caches and a step runs over
``[0, top)``, the highest occupied slot's bucket. Slots between occupied ones are inert (ended): they cost their share
of a step and change nothing.

Degenerate rows (:mod:`serving.engine.degeneration`) are looked for every ``CHECK_INTERVAL`` steps of the running
batch, counted from when it was last empty: a row that joined later is checked at other token counts than in a whole
batch, so a degenerate window may stop a few tokens (fewer than ``CHECK_INTERVAL``) apart.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from serving.engine.decoded import DecodedWindow
from serving.engine.degeneration import CHECK_INTERVAL
from serving.engine.token_search import END_CHECK_INTERVAL, TokenSearch, WindowPrompt, column, no_speech_probabilities

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Occupant:
    prompt: WindowPrompt
    no_speech: float


class RunningBatch:
    """Slots of one :class:`TokenSearch` (its runtime's cache rows and its search state). Not thread-safe: the model
    thread alone drives it, and a whole-batch decode on the same search runs only while no slot is occupied."""

    def __init__(self, search: TokenSearch) -> None:
        self.search = search
        self.capacity = search.runtime.capacity
        self._slots: dict[int, _Occupant | None] = {}  # reserved slots: None while bound and not started yet
        self._steps = 0  # steps since the batch was last empty (the degeneration check's clock)

    # ---- occupancy ----------------------------------------------------------------------------------------------

    @property
    def free(self) -> int:
        return self.capacity - len(self._slots)

    @property
    def occupied(self) -> list[int]:
        return sorted(self._slots)

    def reserve(self, count: int) -> list[int]:
        """The ``count`` lowest free slots, reserved (each must then be :meth:`bind`-ed and :meth:`start`-ed, or
        released)."""
        if count > self.free:
            raise ValueError(f"{count} windows for {self.free} free slots")
        if not self._slots:
            self._park_all()
        chosen = [slot for slot in range(self.capacity) if slot not in self._slots][:count]
        for slot in chosen:
            self._slots[slot] = None
        return chosen

    def release(self, slots: list[int]) -> None:
        """The slots leave the batch (ended and read, or their request has gone) and are inert from now on."""
        if not slots:
            return
        for slot in slots:
            self._slots.pop(slot, None)
            self.search.degenerate.discard(slot)
        self.search.state.park(self._index(slots), self.search.vocabulary.eot)
        if not self._slots:
            self._steps = 0

    # ---- joining ------------------------------------------------------------------------------------------------

    @torch.inference_mode()
    def bind(self, slots: list[int], states: torch.Tensor) -> None:
        """The windows' encoder states (one per slot) become the slots' cross-attention keys and values."""
        self.search.runtime.bind_rows(states, self._index(slots))

    @torch.inference_mode()
    def detect_languages(self, slots: list[int]) -> list[dict[str, float]]:
        """Per bound slot, the language probabilities after <|startoftranscript|>; no slot's caches change."""
        search, rows = self.search, len(slots)
        tokens = torch.full((rows, 1), search.vocabulary.sot, dtype=torch.long, device=search.device)
        hidden = search.runtime.prefill_rows(tokens, self._index(slots), cache=False)
        logits = search.runtime.logits_at(hidden, torch.zeros(rows, dtype=torch.long, device=search.device))
        ids = torch.tensor(list(search.vocabulary.languages.values()), device=logits.device)
        codes = list(search.vocabulary.languages)
        return [dict(zip(codes, row)) for row in logits[:, ids].softmax(dim=-1).cpu().tolist()]

    @torch.inference_mode()
    def start(self, slots: list[int], prompts: list[WindowPrompt]) -> None:
        """Bound slots start decoding their prompts: prefix prefilled into each slot's cache, first token chosen."""
        if len(slots) != len(prompts) or any(self._slots.get(slot, 0) is not None for slot in slots):
            raise ValueError("start() takes reserved, bound slots that have not started, one prompt each")
        search, at = self.search, self._index(slots)
        width = max(len(p.prefix) for p in prompts)
        padded = [list(p.prefix) + [search.vocabulary.eot] * (width - len(p.prefix)) for p in prompts]
        tokens = torch.tensor(padded, dtype=torch.long, device=search.device)
        lengths = column([len(p.prefix) for p in prompts], search.device)
        search.state.start_rows(prompts, tokens, lengths, search.runtime.shape.positions, at=at)
        hidden = search.runtime.prefill_rows(tokens, at)
        no_speech = no_speech_probabilities(search.runtime, search.vocabulary, hidden, prompts)
        top = self._top()
        logits = torch.zeros(top, search.runtime.shape.vocab, device=search.device)
        logits[at] = search.runtime.logits_at(hidden, lengths - 1)
        only = torch.zeros(top, dtype=torch.bool, device=search.device)
        only[at] = True
        search.choose(logits, top, *search.flags(prompts), only=only)
        for slot, prompt, probability in zip(slots, prompts, no_speech):
            search.degenerate.discard(slot)
            self._slots[slot] = _Occupant(prompt, probability)

    # ---- steps ----------------------------------------------------------------------------------------------------

    @torch.inference_mode()
    def run(self, most_steps: int) -> list[int]:
        """At most ``most_steps`` steps of every started slot (fewer once all have ended) -> the started slots that
        have ended, still occupied (read them with :meth:`windows`, then :meth:`release` them)."""
        started = [slot for slot, occupant in self._slots.items() if occupant is not None]
        if not started:
            return []
        search, top = self.search, self._top()
        flags = search.flags([self._slots[slot].prompt for slot in started])
        done, rows = search.state.done, self._index(started)  # the index is made once, not at every step
        interval = END_CHECK_INTERVAL if search.device.type == "cuda" else 1
        taken = 0
        while taken < most_steps and not bool(done[rows].all()):
            for _ in range(min(interval, most_steps - taken)):
                search.step(top, flags)
                taken += 1
                self._steps += 1
                if search.degeneration is not None and self._steps % CHECK_INTERVAL == 0:
                    search.stop_degenerate(top)
        ended = done[rows].cpu().tolist()
        return [slot for slot, is_done in zip(started, ended) if is_done]

    def windows(self, slots: list[int]) -> list[DecodedWindow]:
        """What ended slots decoded (one copy from the device for all of them)."""
        if not slots:
            return []
        state, at = self.search.state, self._index(slots)
        histories, lengths = state.history[at].cpu().tolist(), state.length[at].cpu().tolist()
        sums = state.sum_logprob[at].cpu().tolist()
        decoded = []
        for slot, history, length, total in zip(slots, histories, lengths, sums):
            occupant = self._slots[slot]
            sampled = history[len(occupant.prompt.prefix) : length]
            ended = bool(sampled) and sampled[-1] == self.search.vocabulary.eot
            decoded.append(DecodedWindow(tuple(sampled[:-1] if ended else sampled), total, occupant.no_speech,
                                         occupant.prompt.temperature, ended,
                                         degenerate=slot in self.search.degenerate))
        return decoded

    # ---- helpers ------------------------------------------------------------------------------------------------

    def _top(self) -> int:
        """Rows a step runs over: up to the highest reserved slot (the graph bucket rounds it up)."""
        return max(self._slots) + 1

    def _index(self, slots: list[int]) -> torch.Tensor:
        return torch.tensor(slots, dtype=torch.long, device=self.search.device)

    def _park_all(self) -> None:
        """An empty batch starts clean: every slot inert (a whole-batch decode may have used the rows)."""
        self.search.state.park(torch.arange(self.capacity, device=self.search.device), self.search.vocabulary.eot)
        self._steps = 0
