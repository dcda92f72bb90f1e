"""A three-domain byte corpus built only from text that ships with Python, for the study.

Domains (every sample is ``seq_len`` bytes from one domain):

* ``text``: windows of the standard library's documentation topics
  (``pydoc_data.topics.topics``, ~0.47 MB of English and code). The topics are split
  deterministically by their sorted position: every 8th topic (positions 0, 8, 16, ...) is
  held out for evaluation, every 8th from position 4 on (4, 12, 20, ...) is reserved for the
  redundant domain's templates, the rest is training text. (The topics share some
  passages: about 7 % of 128-byte held-out windows also occur verbatim in the training
  topics -- ordinary near-duplication of real documentation, left as it is.)
* ``redundant``: many exact and near duplicates of a few templates (``n_templates`` windows of
  the reserved topics): a sample is a template, copied exactly with probability
  ``exact_fraction``, otherwise with each byte replaced by a random printable ASCII byte with
  probability ``mutation_rate``. The model memorises them quickly: low-loss samples.
* ``noise``: independent uniform random bytes in [0, 256): high-loss samples that cannot be
  learned (the best possible perplexity is 256).

Held-out sets: fresh windows of the held-out topics, fresh draws of the redundant process
(the same templates, new mutations) and fresh noise. Everything is drawn from one seeded
``numpy.random.Generator``: the same arguments give the same bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from rwtheory._array import check_int

__all__ = ["DOMAINS", "DomainCorpus", "build_corpus", "python_doc_topics"]

#: Domain names, in the order of the domain ids.
DOMAINS: tuple[str, ...] = ("text", "redundant", "noise")

_PRINTABLE = np.frombuffer(bytes(range(32, 127)), dtype=np.uint8)


def python_doc_topics() -> list[tuple[str, bytes]]:
    """The documentation topics shipped with Python, ``(name, UTF-8 bytes)``, sorted by name."""
    from pydoc_data.topics import topics

    return [(k, topics[k].encode("utf-8")) for k in sorted(topics)]


@dataclass(frozen=True)
class DomainCorpus:
    """Training pool and held-out sets.

    ``train``: ``(N, seq_len)`` int64 byte values; ``train_domain``: ``(N,)`` domain ids into
    :data:`DOMAINS`; ``heldout``: domain name -> ``(n_heldout, seq_len)`` int64."""

    train: torch.Tensor
    train_domain: torch.Tensor
    heldout: dict[str, torch.Tensor]
    mix: tuple[float, float, float]

    @property
    def seq_len(self) -> int:
        return int(self.train.shape[1])

    def domain_counts(self) -> dict[str, int]:
        return {d: int((self.train_domain == i).sum()) for i, d in enumerate(DOMAINS)}


def _windows(text: np.ndarray, n: int, seq_len: int, rng: np.random.Generator) -> np.ndarray:
    starts = rng.integers(0, text.shape[0] - seq_len + 1, size=n)
    return text[starts[:, None] + np.arange(seq_len)]


def _redundant(
    templates: np.ndarray,
    n: int,
    exact_fraction: float,
    mutation_rate: float,
    rng: np.random.Generator,
) -> np.ndarray:
    out = templates[rng.integers(0, templates.shape[0], size=n)].copy()
    mutate = (rng.random(n) >= exact_fraction)[:, None] & (rng.random(out.shape) < mutation_rate)
    out[mutate] = _PRINTABLE[rng.integers(0, _PRINTABLE.shape[0], size=int(mutate.sum()))]
    return out


def _check_fraction(v: float, name: str) -> float:
    v = float(v)
    if not 0 <= v <= 1:  # NaN fails too
        raise ValueError(f"{name} must be in [0, 1], got {v!r}")
    return v


def build_corpus(
    seq_len: int = 128,
    n_train: int = 8192,
    n_heldout: int = 64,
    mix: tuple[float, float, float] = (0.5, 0.3, 0.2),
    n_templates: int = 8,
    exact_fraction: float = 0.5,
    mutation_rate: float = 0.03,
    seed: int | np.random.Generator = 0,
) -> DomainCorpus:
    """Build the training pool (``n_train`` samples, domain shares ``mix`` = (text,
    redundant, noise), rounded to whole samples and shuffled) and ``n_heldout`` held-out
    samples per domain. See the module docstring for the domains."""
    for name, v in (
        ("seq_len", seq_len),
        ("n_train", n_train),
        ("n_heldout", n_heldout),
        ("n_templates", n_templates),
    ):
        check_int(v, name, minimum=1)
    shares = tuple(float(m) for m in mix)
    if len(shares) != 3 or not all(m >= 0 for m in shares) or not math.isclose(sum(shares), 1.0):
        raise ValueError(
            f"mix must be three shares >= 0 (text, redundant, noise) summing to 1, got {shares!r}"
        )
    exact_fraction = _check_fraction(exact_fraction, "exact_fraction")
    mutation_rate = _check_fraction(mutation_rate, "mutation_rate")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    topics = python_doc_topics()
    parts: dict[str, list[bytes]] = {"train": [], "heldout": [], "templates": []}
    for i, (_, body) in enumerate(topics):
        key = "heldout" if i % 8 == 0 else "templates" if i % 8 == 4 else "train"
        parts[key].append(body)
    sep = b"\n\n"
    text = {k: np.frombuffer(sep.join(v), dtype=np.uint8) for k, v in parts.items()}
    if min(t.shape[0] for t in text.values()) < seq_len * 2:
        raise ValueError(f"seq_len = {seq_len} is too long for the documentation corpus")
    templates = _windows(text["templates"], n_templates, seq_len, rng)

    counts = [round(m * n_train) for m in shares]
    counts[0] = n_train - counts[1] - counts[2]
    train = np.concatenate(
        [
            _windows(text["train"], counts[0], seq_len, rng),
            _redundant(templates, counts[1], exact_fraction, mutation_rate, rng),
            rng.integers(0, 256, size=(counts[2], seq_len), dtype=np.uint8),
        ]
    )
    domain = np.repeat(np.arange(3), counts)
    order = rng.permutation(n_train)
    heldout = {
        "text": _windows(text["heldout"], n_heldout, seq_len, rng),
        "redundant": _redundant(templates, n_heldout, exact_fraction, mutation_rate, rng),
        "noise": rng.integers(0, 256, size=(n_heldout, seq_len), dtype=np.uint8),
    }
    as_long = lambda a: torch.from_numpy(np.ascontiguousarray(a).astype(np.int64))  # noqa: E731  (a one-line local helper)
    return DomainCorpus(
        train=as_long(train[order]),
        train_domain=as_long(domain[order]),
        heldout={k: as_long(v) for k, v in heldout.items()},
        mix=shares,
    )
