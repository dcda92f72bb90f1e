"""The settings of the robustness study: which parameters the paper lost, which values we
try, and why (the grids themselves are data: ``robustness_grids.toml``).

Appendix B.1 lost n, d, the noise level sigma and the outlier features ("We use n = , d = and
sigma = ."), and no step size, temperature or run length is given for Figures 7-8; A.4-A.5
ran on an LLM, so every regression analogue of theirs is our choice too. The committed
figures fix one value of each. The study re-applies each claim's own status rule (the
``RULES`` of the figure modules) at many other values, to say how far each verdict
generalises. The grid was declared before any of its results was read; it is not tuned.

Why these levels (``default`` grid):

* **n x d**: our figures' 1000 x 20; fewer samples (300 x 20); more features (300 x 100);
  and d close to n, where least squares nearly interpolates its training set and the
  outliers matter most (200 x 160, 100 x 90: d/n = 0.8 and 0.9). n x d stays <= 32,000 so
  that the default grid fits its time budget (a run-step costs ~n d).
* **noise sigma** in {0.01, 0.1, 0.5}: the paper's "small constant controlling the noise
  level" is 0.01 or 0.1; 0.5 is a noisy problem (clean signal variance ~ 2).
* **outlier fraction**: as stated, 10 % for Fig. 7 (and A.4, A.5, which follow Fig. 7's
  problem) and 25 % for Fig. 8, with one level either side (5/20 %, 15/35 %).
* **outlier features**: Gaussian N(0, s^2 I) at s = 1 (same design as the clean data), 3 and
  10 (outliers with large leverage), and i.i.d. Student-t with 3 degrees of freedom (heavy
  tails, finite variance: occasional extreme leverage) -- the paper's law was lost.
* **outlier targets**: N(0, 1) as stated, and N(0, 10^2) (gross outliers far from the clean
  targets, the usual meaning of the word).
* **step size**: 0.1, the fixed value of our figures, and 0.25/L, 0.5/L, 1/L with L the
  smoothness of each seed's uniform objective (so the rate is stable for uniform GD on every
  problem: with heavy-leverage outliers L grows and 0.1 may exceed 2/L). Fig. 8's smaller
  rate is always the shared rate / 10, as in the figure.
* **temperature r** of linupper (and quadratic, extremes) in {0.5, 1, 2} (the paper uses
  0.4, 1 and 2 on LLMs); r is the variable of A.4 and both A.5 values are in its claim, so
  r is not an axis there. DRO-KL's tau in {0.4, 1, 2} (from the paper's Table 12 grid)
  for Fig. 8 and A.5. Minibatch B in {16, 64} for A.5.
* **steps** in {300, 1000, 2000, 3000}: the figures' 2000, a short run, a medium one and a
  longer one (claims on speed and on final values may change with the horizon; longer runs
  do not fit the time budget).
* **seeds**: 10 per setting, seeds 0..9 for every setting (the settings are paired on their
  seeds; a setting's seeds do not depend on where it runs).

The full factorial product has 5,760-51,840 settings per family, too many for the time
budget; each family gets its base setting (the committed figure's own parameters, so the
study reproduces the ledger's verdict there) plus a uniform random sample without
replacement from its product (``settings_per_family`` in all). A uniform sample keeps every
level of every axis at about the same frequency and every pair of axes crossed, so the
share of each status can be read against each parameter (marginally over the others) and on
every 2-D map. The ``quick`` grid has the same axes on a small problem, 3 settings a family.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from rwtheory._array import (
    InputTypeError,
    InputValueError,
    check_document,
    check_seed,
    read_text,
)

__all__ = ["BUILTIN_GRIDS", "FAMILIES", "Setting", "StudyGrid", "grid_schema", "load_grid"]

#: Claim families, in study order (each is a figure module with ``measure`` and ``RULES``).
FAMILIES = ("fig7", "fig8", "r_sensitivity", "max_weight")
#: Axes every family has, then each family's own.
SHARED_AXES = ("n_d", "noise", "outlier_features", "outlier_targets", "lr", "steps")
FAMILY_AXES = {
    "fig7": ("outlier_fraction", "r"),
    "fig8": ("outlier_fraction", "r", "tau"),
    "r_sensitivity": ("outlier_fraction",),
    "max_weight": ("outlier_fraction", "batch", "tau"),
}
#: The committed figures' own parameters (the base setting of each family).
BASE_SHARED = dict(
    n_d="1000x20",
    noise=0.1,
    outlier_features="gaussian:1",
    outlier_targets=1.0,
    lr="0.1",
    steps=2000,
)
BASE = {
    "fig7": dict(outlier_fraction=0.1, r=1.0),
    "fig8": dict(outlier_fraction=0.25, r=1.0, tau=1.0),
    "r_sensitivity": dict(outlier_fraction=0.1),
    "max_weight": dict(outlier_fraction=0.1, batch=64, tau=1.0),
}
BUILTIN_GRIDS = ("default", "quick")
#: A level of an axis as the grid file writes it: a TOML number or string (e.g. ``0.1``,
#: ``2000``, ``"1000x20"``, ``"0.5/L"``).
Level = str | int | float


@dataclass(frozen=True)
class Setting:
    """One setting of one family: ``params`` maps every axis of the family to its level
    (as written in the grid); ``index`` is its position among the family's settings."""

    family: str
    index: int
    params: tuple[tuple[str, Level], ...]

    def kwargs(self) -> dict:
        """Keyword arguments of the family's ``measure`` (besides the seeds)."""
        p = dict(self.params)
        n, d = _n_d(p.pop("n_d"))
        law, df, scale = _features(p.pop("outlier_features"))
        lr, unit = _lr(p.pop("lr"))
        out = dict(
            n=n,
            d=d,
            noise=float(p.pop("noise")),
            outlier_feature_law=law,
            outlier_feature_df=df,
            outlier_feature_scale=scale,
            outlier_target_scale=float(p.pop("outlier_targets")),
            lr=lr,
            lr_unit=unit,
            steps=int(p.pop("steps")),
            outlier_fraction=float(p.pop("outlier_fraction")),
        )
        for key, cast in (("r", float), ("tau", float), ("batch", int)):
            if key in p:
                out[key] = cast(p.pop(key))
        return out


@dataclass(frozen=True)
class StudyGrid:
    """A declared grid (see the module docstring); ``axes[family][axis]`` = its levels."""

    name: str
    seeds: int
    sample_seed: int
    settings_per_family: int
    include_base: bool
    axes: Mapping[str, Mapping[str, tuple]]

    def settings(self, family: str) -> list[Setting]:
        """The family's settings: the base one first (if included), then the sample."""
        names = list(self.axes[family])
        levels = [self.axes[family][a] for a in names]
        product = list(itertools.product(*levels))
        base = None
        if self.include_base:
            base = product.index(tuple(_base(family)[a] for a in names))
        rng = np.random.default_rng(self.sample_seed + FAMILIES.index(family))
        pool = [i for i in range(len(product)) if i != base]
        k = min(len(pool), self.settings_per_family - (base is not None))
        chosen = sorted(rng.choice(len(pool), size=k, replace=False).tolist()) if k > 0 else []
        order = ([base] if base is not None else []) + [pool[i] for i in chosen]
        return [
            Setting(family, j, tuple(zip(names, product[i], strict=True)))
            for j, i in enumerate(order)
        ]

    def as_dict(self) -> dict:
        return dict(
            name=self.name,
            seeds=self.seeds,
            sample_seed=self.sample_seed,
            settings_per_family=self.settings_per_family,
            include_base=self.include_base,
            axes={f: {a: list(v) for a, v in ax.items()} for f, ax in self.axes.items()},
        )

    def digest(self) -> str:
        """First 12 hex digits of the SHA-256 of the grid's canonical JSON."""
        text = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @staticmethod
    def from_dict(data: Mapping, what: str = "grid record", *, study_file: bool = False):
        """The inverse of :meth:`as_dict` (a ``version`` key is allowed: the ``grid.json`` a
        study writes; ``study_file``: required), checked against the schema's
        ``$defs/study`` (``$defs/study_file``) and then like a grid file; errors start with
        ``what``."""
        if not isinstance(data, Mapping):
            raise InputTypeError(f"{what} must be a mapping, got {type(data).__name__}")
        root = "#/$defs/study_file" if study_file else "#/$defs/study"
        check_document(dict(data), {**grid_schema(), "$ref": root}, what)
        data = dict(data)
        data.pop("version", None)
        name = data.pop("name")
        axes = data.pop("axes")
        return _parse(name, {**data, **axes, "axes": {}}, what)

    def with_seeds(self, seeds: int) -> StudyGrid:
        return StudyGrid(
            self.name,
            seeds,
            self.sample_seed,
            self.settings_per_family,
            self.include_base,
            self.axes,
        )


def _base(family: str) -> dict:
    return {**BASE_SHARED, **BASE[family]}


@functools.cache
def grid_schema() -> dict:
    """The JSON Schema of a grid (``robustness_grid.schema.json``, shipped beside this
    module): a grid file is its root, a study's ``grid.json`` its ``$defs/study``."""
    text = (
        resources.files("rwtheory.experiments")
        .joinpath("robustness_grid.schema.json")
        .read_text(encoding="utf-8")
    )
    return json.loads(text)


def load_grid(spec: str | Path | Mapping) -> StudyGrid:
    """``"default"``, ``"quick"``, the path of a TOML file holding one grid (the keys of one
    table of ``robustness_grids.toml`` at its top level) or such a mapping.

    A grid is checked before anything runs: against :func:`grid_schema` (an error gives the
    path in the grid and the schema path of the rule it breaks: e.g. ``steps = [300.5]`` at
    ``$.fig7.steps[0]``, rule ``.../steps/items/type``), then for what a schema cannot say:
    every family's axes exactly, finite levels, the base levels when ``include_base``, and
    levels that every problem size of ``n_d`` can take (an outlier fraction that leaves a
    clean sample, a batch no larger than n, a Student-t with >= 1 degree of freedom). A file
    must be UTF-8 TOML."""
    if isinstance(spec, Mapping):
        return _parse("custom", spec, "grid")
    if not isinstance(spec, (str, Path)):
        raise InputTypeError(
            f"grid must be one of {BUILTIN_GRIDS}, a TOML file or a mapping, "
            f"got {type(spec).__name__}"
        )
    if str(spec) in BUILTIN_GRIDS:
        text = (
            resources.files("rwtheory.experiments")
            .joinpath("robustness_grids.toml")
            .read_text(encoding="utf-8")
        )
        return _parse(str(spec), tomllib.loads(text)[str(spec)], f"grid {str(spec)!r}")
    path = Path(spec)
    if not path.is_file():
        raise InputValueError(
            f"grid must be one of {BUILTIN_GRIDS} or a TOML file, got {str(spec)!r}"
        )
    what = f"grid file {str(path)!r}"
    try:
        data = tomllib.loads(read_text(path, what))
    except tomllib.TOMLDecodeError as exc:
        raise InputValueError(f"{what} must be TOML: {exc}") from None
    return _parse(path.stem, data, what)


def _parse(name: str, data: Mapping, what: str) -> StudyGrid:
    check_document(dict(data), grid_schema(), what)
    include_base = data.get("include_base", True)
    shared = dict(data.get("axes", {}))
    axes = {}
    for family in FAMILIES:
        merged = {**shared, **dict(data.get(family, {}))}
        names = SHARED_AXES + FAMILY_AXES[family]
        missing = [a for a in names if a not in merged]
        extra = [a for a in merged if a not in names]
        if missing or extra:
            raise InputValueError(
                f"{what}: family {family!r}: axes must be exactly {list(names)} "
                f"(missing {missing}, not allowed {extra})"
            )
        axes[family] = {a: _levels(family, a, merged[a]) for a in names}
        if include_base:
            off = {a: v for a, v in _base(family).items() if v not in axes[family][a]}
            if off:
                raise InputValueError(
                    f"{what}: family {family!r}: include_base needs the base "
                    f"levels {off} among the axes' levels"
                )
        _check_sizes(family, axes[family], what)
    return StudyGrid(
        name,
        int(data["seeds"]),
        check_seed(int(data["sample_seed"]), "sample_seed"),
        int(data["settings_per_family"]),
        include_base,
        axes,
    )


def _check_sizes(family: str, axes: Mapping, what: str) -> None:
    """Levels that every problem size of the family's ``n_d`` can take: the sampled
    settings may pair any n with any outlier fraction and any batch."""
    ns = sorted({_n_d(v)[0] for v in axes["n_d"]})
    for frac in axes["outlier_fraction"]:
        n = next((n for n in ns if n - round(frac * n) < 1), None)
        if n is not None:
            raise InputValueError(
                f"{what}: {family}.outlier_fraction levels must leave a clean sample at every "
                f"n of n_d, got {frac!r} for n = {n}"
            )
    for batch in axes.get("batch", ()):
        if batch > ns[0]:
            raise InputValueError(
                f"{what}: {family}.batch levels must be integers in 1..{ns[0]} (the smallest "
                f"n of n_d), got {batch!r}"
            )


def _levels(family: str, axis: str, values) -> tuple:
    if not isinstance(values, list) or not values or len(set(map(str, values))) != len(values):
        raise InputValueError(
            f"grid {family}.{axis} must be a non-empty list of distinct levels, got {values!r}"
        )
    check = {"n_d": _n_d, "outlier_features": _features, "lr": _lr}.get(axis)
    for v in values:
        if check is not None:
            check(v)
        elif (
            not isinstance(v, int | float)
            or isinstance(v, bool)
            or not math.isfinite(v)
            or (v <= 0 and axis != "noise")
            or v < 0
            or (axis == "outlier_fraction" and v >= 1)
        ):
            raise InputValueError(
                f"grid {family}.{axis} levels must be finite numbers "
                + (">= 0" if axis == "noise" else "> 0")
                + (" and < 1" if axis == "outlier_fraction" else "")
                + f", got {v!r}"
            )
    return tuple(values)


def _n_d(level) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)x(\d+)", str(level))
    if not m or int(m[1]) < 2 or int(m[2]) < 1:
        raise InputValueError(f"grid axis n_d: levels are 'NxD' with N >= 2, D >= 1, got {level!r}")
    return int(m[1]), int(m[2])


def _features(level) -> tuple[str, float, float]:
    m = re.fullmatch(r"(gaussian|student_t(\d+(?:\.\d+)?)):(\d+(?:\.\d+)?)", str(level))
    if not m or float(m[3]) <= 0 or (m[2] is not None and float(m[2]) < 1):
        raise InputValueError(
            f"grid axis outlier_features: levels are 'gaussian:SCALE' or "
            f"'student_tDF:SCALE' with DF >= 1, SCALE > 0, got {level!r}"
        )
    if m[2] is None:
        return "gaussian", 3.0, float(m[3])
    return "student_t", float(m[2]), float(m[3])


def _lr(level) -> tuple[float, str]:
    m = re.fullmatch(r"(\d*\.?\d+(?:e-?\d+)?)?(/L)?", str(level))
    if not m or (m[1] is None and m[2] is None) or (m[1] is not None and float(m[1]) <= 0):
        raise InputValueError(
            f"grid axis lr: levels are 'VALUE' or 'VALUE/L' with VALUE > 0, got {level!r}"
        )
    value = 1.0 if m[1] is None else float(m[1])
    return value, "1/L" if m[2] else "absolute"
