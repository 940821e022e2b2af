"""Choosing a one-shot for each event: intensity match, round-robin, prompt preference.

A sampler that fires the same sample twice in a row sounds like a machine
gun; one that fires a soft tap for a slam sounds wrong. Each one-shot gets a
*strength* (its recorded level plus a little of its brightness), ranked
within the bank; an event of intensity quantile ``q`` (its rank among the
clip's events) draws among the one-shots whose strength rank is nearest
``q``, never the one it used last, weighted by how well each matches the
text prompt (file and folder names, then sound embeddings near the named
ones).
"""

from __future__ import annotations

import re

import numpy as np

from folai_models.foley.bank import SoundBank
from folai_models.preview_synth.measure import EPS

BRIGHTNESS_WEIGHT = 0.5  # strength = z(level dB) + 0.5 z(log brightness): loud hits are also bright
NEIGHBOURS_FRACTION = 0.2  # candidates: the 20 % of the bank nearest in strength rank ...
NEIGHBOURS_MIN = 3  # ... but at least this many
CANDIDATE_SPREAD = 0.25  # candidates further than this in strength rank are drawn less (Gaussian)
NO_REPEAT = 2  # the last 2 one-shots are not drawn again (when the bank has more)
POOL_MIN = NEIGHBOURS_MIN + 1  # the prompt narrows the bank to no fewer one-shots than this
PROMPT_MATCH_WEIGHT = 1.0  # weight of a one-shot whose path names a prompt word
PROMPT_OTHER_WEIGHT = 0.05  # ... of one that does not (and sounds unlike the named ones)
EMBEDDING_SHARPNESS = 4.0  # weight of an unnamed one-shot: max(other, 0.4 cosine to the named ones' mean ** 4)
PROMPT_SIMILAR_WEIGHT = 0.4  # ... below the named ones' pool threshold (0.5): sound alone never outranks a name
STOPWORDS = frozenset("a an the of on in with and or by to at for from is are person sound sounds "
                      "times multiple hit hits hitting".split())


def prompt_words(prompt: str | None) -> set[str]:
    """Content words of a prompt (lower case, 3+ letters, no stopwords, plural -s dropped)."""
    words = set()
    for w in re.findall(r"[a-z]{3,}", (prompt or "").lower()):
        if w not in STOPWORDS:
            words.add(w[:-1] if w.endswith("s") and len(w) > 3 else w)
    return words


def _name_words(name: str) -> set[str]:
    return {w[:-1] if w.endswith("s") and len(w) > 3 else w for w in re.findall(r"[a-z]{3,}", name.lower())}


def prompt_weights(bank: SoundBank, prompt: str | None) -> np.ndarray:
    """Selection weight of each one-shot for ``prompt`` (all 1 when nothing matches)."""
    words = prompt_words(prompt)
    n = len(bank)
    if not words or n == 0:
        return np.ones(n)
    named = np.array([bool(words & _name_words(name)) for name in bank.names])
    if not named.any() or named.all():
        return np.ones(n)
    weights = np.where(named, PROMPT_MATCH_WEIGHT, PROMPT_OTHER_WEIGHT)
    if bank.embeddings is not None and len(bank.embeddings) == n:
        e = bank.embeddings / (np.linalg.norm(bank.embeddings, axis=1, keepdims=True) + EPS)
        centre = e[named].mean(axis=0)
        centre /= np.linalg.norm(centre) + EPS
        similar = np.clip(e @ centre, 0.0, 1.0) ** EMBEDDING_SHARPNESS
        weights = np.where(named, weights, np.maximum(weights, PROMPT_SIMILAR_WEIGHT * similar))
    return weights


def strength_ranks(bank: SoundBank) -> np.ndarray:
    """Each one-shot's strength quantile in [0, 1] (0 softest / darkest, 1 loudest / brightest)."""
    n = len(bank)
    if n <= 1:
        return np.full(n, 0.5)
    z = lambda v: (v - v.mean()) / (v.std() + EPS)  # noqa: E731
    strength = z(np.asarray(bank.level_db)) + BRIGHTNESS_WEIGHT * z(np.log(np.asarray(bank.brightness_hz) + 1.0))
    return np.argsort(np.argsort(strength)) / (n - 1)


class OneShotSelector:
    """Draws one-shot indices for events of given intensity quantiles (stateful: round-robin)."""

    def __init__(self, bank: SoundBank, prompt: str | None, rng: np.random.Generator):
        if len(bank) == 0:
            raise ValueError("the sound bank has no one-shots")
        self._ranks = strength_ranks(bank)
        self._weights = prompt_weights(bank, prompt)
        # Prompt-preferred one-shots form the pool; when too few are preferred, the ones that sound most
        # like them (weight from the embedding) fill it up.
        order = np.argsort(-self._weights, kind="stable")
        preferred = int(np.sum(self._weights >= 0.5 * self._weights.max()))
        self._pool = np.sort(order[: max(preferred, min(len(bank), POOL_MIN))])
        self._k = max(NEIGHBOURS_MIN, int(np.ceil(NEIGHBOURS_FRACTION * self._pool.size)))
        self._recent: list[int] = []
        self._rng = rng

    def choose(self, quantile: float) -> int:
        """Index of a one-shot for an event whose intensity rank among the clip's events is ``quantile``.

        Ranks, not levels: the clip's loudest events get the library's
        strongest one-shots whatever the envelope's absolute level (a
        predicted envelope's is a guess; matching one-shots to it measured
        worse, docs/REALISM.md).
        """
        distance = np.abs(self._ranks - float(np.clip(quantile, 0.0, 1.0)))
        pool = self._pool if self._pool.size > NO_REPEAT else np.arange(self._ranks.size)
        blocked = set(self._recent[-NO_REPEAT:]) if pool.size > NO_REPEAT else set(self._recent[-1:])
        if pool.size == 1:
            blocked = set()
        candidates = [int(i) for i in pool[np.argsort(distance[pool], kind="stable")] if int(i) not in blocked]
        candidates = candidates[: self._k]
        w = self._weights[candidates] * np.exp(-np.square(distance[candidates] / CANDIDATE_SPREAD))
        pick = candidates[int(self._rng.choice(len(candidates), p=w / w.sum()))]
        self._recent.append(pick)
        del self._recent[:-NO_REPEAT]
        return pick
