"""Good and bad inputs for the public surface added since issue 13, and the judge of one call.

Shared by ``tests/test_surface_properties.py`` (which asserts) and
``benchmarks/bad_input_surface.py`` (which counts). The entry points (:data:`SCENARIOS`):
the strategy registry (records with good and bad score functions, score ranges and fields,
used by the pipeline, the batched pipeline, the cap analysis and the engine), the cap
analysis at any n, the bisection's ``tol``/``max_iter``, the batched pipeline (list
temperatures, per-row strategies), the least-squares generators and ``LeastSquares``
itself, the engine (``engine.run``: problems changed in place after construction, user
schemes returning bad weights, bad schedules, every argument), the reference loop,
``sample_batches``, the schemes and adversaries, the GLM engine, its losses and user
losses, the non-convex problems, grids (mappings and files: wrong types and ranges,
latin-1 bytes, truncated TOML, levels no problem size can take) and a robustness study's
folder (``grid.json`` and the settings CSVs). The CLI's bad commands are in
:func:`cli_commands`.

A call's outcome is one of :data:`OUTCOMES`:

* ``correct``: a good input returned, and the result agrees with a simple reference (the
  literal loop for the engine, float64 formulas for the weights, invariants for generated
  data);
* ``clean_error``: a ``ValueError``/``TypeError`` for a bad input whose message names a bad
  argument (for a user's callable: the function's name);
* ``documented_refusal``: a good input refused with a documented reason (none here);
* ``silent``: a bad input accepted, or a wrong result;
* ``deep``: any other exception (a traceback from inside numpy, json, tomllib...), or a
  warning that escaped;
* ``vague``: a ``ValueError``/``TypeError`` for a bad input that names no bad argument;
* ``valid_refused``: a ``ValueError``/``TypeError`` for a good input.

Everything here uses only the public API as it stood before issue 22 (so that the same
module measures the tree before and after the change).
"""

from __future__ import annotations

import copy
import json
import math
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from hypothesis import strategies as st

import rwtheory as rw
from rwtheory.convex import adversaries, engine, glm, schemes
from rwtheory.convex.problems import (
    LeastSquares,
    consistent_least_squares,
    regression_with_outliers,
)
from rwtheory.convex.reference import run_reference
from rwtheory.nonconvex import problems as ncp
from rwtheory.report.markdown import README_BEGIN, README_END
from rwtheory.weights import pipeline, strategies

ROOT = Path(__file__).resolve().parents[1]
OUTCOMES = (
    "correct",
    "clean_error",
    "documented_refusal",
    "silent",
    "deep",
    "vague",
    "valid_refused",
)
GOOD_OUTCOMES = ("correct", "clean_error", "documented_refusal")


# ------------------------------------------------------------------ the judge
@dataclass
class Call:
    """One call of an entry point: ``run()`` makes it, ``bad`` maps each bad argument to the
    words any of which its error must name, ``check(result)`` judges a good call's result."""

    fn: str
    run: Callable[[], object]
    bad: dict = field(default_factory=dict)
    names: tuple = ()
    check: Callable[[object], bool] | None = None
    desc: str = ""


def _named(msg: str, words) -> bool:
    return any(re.search(rf"(?<![\w]){re.escape(w)}(?![\w])", msg) for w in words)


def judge(c: Call) -> tuple[str, str]:
    """``(outcome, detail)`` of the call ``c`` (module docstring)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = c.run()
            ok = None if c.bad else bool(c.check(result)) if c.check else True
        except (ValueError, TypeError) as exc:
            msg = f"{type(exc).__name__}: {exc}"
            if not c.bad:
                return "valid_refused", f"{c.desc}: {msg}"
            words = [w for ws in c.bad.values() for w in ws]
            return ("clean_error", msg) if _named(msg, words) else ("vague", f"{c.desc}: {msg}")
        except Exception as exc:  # any exception: what is counted
            return "deep", f"{c.desc}: {type(exc).__name__}: {str(exc)[:200]}"
    if caught:
        return (
            "deep",
            f"{c.desc}: warning escaped: {caught[0].category.__name__}: {caught[0].message}",
        )
    if c.bad:
        return "silent", f"{c.desc}: bad {sorted(c.bad)} accepted"
    return ("correct", "") if ok else ("silent", f"{c.desc}: wrong result")


class Args:
    """Draws the arguments of one call and records which are bad: at most one argument per
    call is drawn from its bad values (the ``target``-th, drawn uniformly in 0..15, so that
    a scenario of k arguments makes about (16 - k)/16 of its calls with good input only), so
    that a bad value is never hidden behind another one's error. A bad strategy may yield
    :class:`Named` to say which words its error must contain (a user's callable: its
    name)."""

    def __init__(self, data, arguments: int):
        self.data = data
        self.target = data.draw(st.integers(0, round(1.8 * arguments)), label="bad argument")
        self.bad: dict[str, tuple] = {}
        self.names: list[str] = []
        self.values: dict = {}

    def __call__(self, name, good, bad=None, words=None):
        is_bad = bad is not None and len(self.names) == self.target
        self.names.append(name)
        value = self.data.draw(bad if is_bad else good, label=name)
        if isinstance(value, Named):
            words, value = value.words, value.value
        if is_bad:
            self.bad[name] = tuple(words or (name,))
        self.values[name] = value
        return value

    def call(self, fn, run, check=None) -> Call:
        desc = f"{fn}({', '.join(f'{k}={_short(v)}' for k, v in self.values.items())})"
        return Call(fn, run, dict(self.bad), tuple(self.names), check, desc)


@dataclass
class Named:
    """A bad value and the words its error must name."""

    value: object
    words: tuple


def _short(v) -> str:
    text = getattr(v, "__name__", None) or repr(v).replace("\n", " ")
    return text if len(text) < 60 else text[:57] + "..."


# ------------------------------------------------------------------ common values
BAD_SCALARS = ["0.1", None, True, [1.0], np.array([1.0]), 1 + 1j, math.nan]
BAD_POSITIVE = [0.0, -1.0, math.inf, -math.inf, *BAD_SCALARS]
BAD_INTS = [2.5, "3", None, True, np.array([2]), math.nan]


def positive(low=1e-3, high=1e3):
    return st.floats(low, high).flatmap(lambda v: st.sampled_from([v, np.float64(v)]))


def ints(low, high):
    return st.integers(low, high).flatmap(lambda v: st.sampled_from([v, np.int64(v)]))


def losses_vector(min_size=2, max_size=9):
    """A finite float64/float32 numpy vector or float64 torch tensor of losses >= 0."""
    vals = st.lists(st.floats(0.0, 50.0), min_size=min_size, max_size=max_size)
    kinds = st.sampled_from(["f64", "f32", "torch"])
    return st.tuples(vals, kinds).map(
        lambda p: (
            np.array(p[0], np.float64)
            if p[1] == "f64"
            else np.array(p[0], np.float32)
            if p[1] == "f32"
            else torch.tensor(p[0], dtype=torch.float64)
        )
    )


def _f64(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().to(torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def _normalize_ref(x, delta=1.0):
    lmax, lmin = x.max(), x.min()
    half = max(lmax / 2 - lmin / 2, pipeline.NORMALIZE_EPS / 2)
    return np.clip((x - (lmax / 2 + lmin / 2)) / half * delta, -delta, delta)


def _softmax_ref(s, r):
    e = np.exp((s - s.max()) / r)
    return e / e.sum()


def _simplex(w, n=None, tol=1e-6) -> bool:
    w = _f64(w)
    return bool(
        np.all(np.isfinite(w)) and np.all(w >= 0) and np.all(np.abs(w.sum(-1) - 1) <= tol)
    ) and (n is None or w.shape[-1] == n)


# ------------------------------------------------------------------ user callables
def lower(t, delta=1.0):
    """Good: (delta - t)/2, range delta."""
    return (delta - t) / 2


def cubic(t, delta=1.0):
    """Good: t^3/delta^2, range 2 delta."""
    return t**3 / delta**2


def steps_up(t, delta=1.0):
    """Good: 0/1 integer scores (range 1)."""
    return (t > 0).astype(np.int64) if isinstance(t, np.ndarray) else (t > 0).long()


def wide_scores(t, delta=1.0):
    """Good: float64 scores whatever the input dtype (range 2 delta)."""
    if isinstance(t, torch.Tensor):
        return t.to(torch.float64)
    return np.asarray(t, dtype=np.float64)


GOOD_SCORES = [  # (score, its score range)
    (lower, lambda delta: float(delta)),
    (cubic, lambda delta: 2.0 * delta),
    (steps_up, lambda delta: 1),
    (wide_scores, lambda delta: 2.0 * delta),
]


def score_nan(t, delta=1.0):
    return t * math.nan


def score_inf(t, delta=1.0):
    return t + math.inf


def score_short(t, delta=1.0):
    return t[:-1]


def score_scalar(t, delta=1.0):
    return 0.5


def score_list(t, delta=1.0):
    return [float(v) for v in t]


def score_torch(t, delta=1.0):
    return torch.as_tensor(np.asarray(t, dtype=np.float64))


def score_complex(t, delta=1.0):
    return t * (1 + 0j)


def score_bool(t, delta=1.0):
    return t > 0


def score_raises(t, delta=1.0):
    raise RuntimeError("user code failed")


BAD_SCORES = [
    score_nan,
    score_inf,
    score_short,
    score_scalar,
    score_list,
    score_torch,
    score_complex,
    score_bool,
    score_raises,
]


def range_negative(delta):
    return -1.0


def range_nan(delta):
    return math.nan


def range_str(delta):
    return "1"


def range_none(delta):
    return None


def range_small(delta):
    return 1e-3 * delta


BAD_RANGES = [range_negative, range_nan, range_str, range_none, range_small]


@dataclass(frozen=True)
class SoftScheme(schemes.Scheme):
    """Good user scheme: softmax of the losses at temperature 2, in float64."""

    label = "soft"

    def __call__(self, losses, step):
        z = np.asarray(losses, dtype=np.float64) / 2.0
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)


def _bad_scheme(name, make):
    @dataclass(frozen=True)
    class Bad(schemes.Scheme):
        label = name

        def __call__(self, losses, step):
            return make(np.asarray(losses))

    Bad.__name__ = Bad.__qualname__ = name
    return Bad()


BAD_SCHEMES = [
    _bad_scheme("NegativeScheme", lambda L: np.full(L.shape, -1.0 / L.shape[-1])),
    _bad_scheme("DoubleScheme", lambda L: np.full(L.shape, 2.0 / L.shape[-1])),
    _bad_scheme("NanScheme", lambda L: np.full(L.shape, math.nan)),
    _bad_scheme("ShortScheme", lambda L: np.full(L.shape[:-1] + (L.shape[-1] - 1,), 1.0)),
    _bad_scheme("ListScheme", lambda L: (np.ones(L.shape) / L.shape[-1]).tolist()),
]


@dataclass  # not frozen: unhashable
class UnhashableScheme(schemes.Scheme):
    label = "unhashable"

    def __call__(self, losses, step):
        return np.full(np.shape(losses), 1.0 / np.shape(losses)[-1])


def temp_nan(t):
    return math.nan


def temp_negative(t):
    return -1.0


def temp_str(t):
    return "0.5"


def temp_none(t):
    return None


BAD_SCHEDULES = [temp_nan, temp_negative, temp_str, temp_none]


def temp_decay(t):
    return 1.0 / (1 + t)


def lam_constant(t):
    return 0.5


def lam_negative(t):
    return -1.0


def lam_nan(t):
    return math.nan


def lam_str(t):
    return "0.5"


def named_callable(fns):
    return st.sampled_from(fns).map(lambda f: Named(f, (f.__name__,)))


# ------------------------------------------------------------------ the strategy registry
TOY = "campaign_toy"


def _small_problem(seed=0, n=8, d=2):
    return regression_with_outliers(2, n=n, d=d, n_test=3, outlier_fraction=0.25)


def _engine_matches_reference(tr, problem, schemes_, method, lr, steps, batch_size, lambdas, x0):
    """Every run of an engine trajectory equals the literal loop (1e-8 relative), where the
    run did not diverge."""
    R = tr.train_loss.shape[0]
    rows = tr.params["rows"]
    scheme_list = schemes_ if isinstance(schemes_, (list, tuple)) else [schemes_] * R
    lr_runs = np.broadcast_to(np.asarray(lr, dtype=np.float64), (R,))
    for i in range(R):
        if tr.diverged_at[i] >= 0:
            continue
        ref = run_reference(
            problem.take([rows[i]]),
            scheme_list[i],
            method,
            float(lr_runs[i]),
            steps,
            batch_size=batch_size,
            lambdas=lambdas,
            x0=None if x0 is None else np.asarray(x0, dtype=np.float64)[i],
        )
        scale = 1 + np.abs(ref.iterates).max()
        if not np.allclose(tr.iterates[i], ref.iterates, rtol=1e-8, atol=1e-8 * scale):
            return False
    return True


def scenario_registry(data) -> Call:
    """StrategyRecord + register_strategy, then one consumer of the registered strategy."""
    a = Args(data, 7)
    score, srange = data.draw(st.sampled_from(GOOD_SCORES), label="good score")
    name = a("name", st.just(TOY), st.sampled_from(["", None, 3]))
    score = a("score", st.just(score), named_callable(BAD_SCORES))
    srange = a("score_range", st.just(srange), named_callable(BAD_RANGES))
    top = a(
        "top_count", st.sampled_from([1, np.int64(1)]), st.sampled_from([0, -1, 1.5, "1", True])
    )
    min_batch = a(
        "min_batch", st.sampled_from([None, 2, np.int64(3)]), st.sampled_from([1, 0, "3", 2.5])
    )
    constant = a("constant", st.sampled_from([False, np.False_]), st.sampled_from(["no", 1, None]))
    replace = a("replace", st.booleans(), st.sampled_from(["no", 1, None]))
    consumer = data.draw(
        st.sampled_from(["sample_weights", "batched", "worst_case_rho", "cap_safe", "engine"]),
        label="consumer",
    )
    losses = data.draw(losses_vector(3, 8), label="losses")
    r = data.draw(st.floats(0.2, 5.0), label="temperature")
    use = _registry_consumer(consumer, losses, r)

    def run():
        if TOY in rw.STRATEGIES:
            strategies.unregister_strategy(TOY)
        try:
            rec = strategies.StrategyRecord(
                name, score, srange, top_count=top, min_batch=min_batch, constant=constant
            )
            strategies.register_strategy(rec, replace=replace)
            return use(rec)
        finally:
            if TOY in rw.STRATEGIES:
                strategies.unregister_strategy(TOY)

    def check(result):
        return _check_registry(consumer, result, score, srange, losses, r, min_batch)

    return a.call(f"register_strategy/{consumer}", run, check)


def _registry_consumer(consumer, losses, r):
    def use(rec):
        if consumer == "sample_weights":
            return rw.sample_weights(losses, TOY, r)
        if consumer == "batched":
            x = _f64(losses)
            return pipeline.batched_sample_weights(np.stack([x, x[::-1]]), TOY, r)
        if consumer == "worst_case_rho":
            return rw.worst_case_rho(TOY, 10, r)
        if consumer == "cap_safe":
            return rw.cap_safe_temperature(TOY, 10, 2.0)
        p = _small_problem()
        tr = engine.run(p, schemes.Strategy(TOY, r), lr=0.05, steps=3)
        # compared while the strategy is registered
        return _engine_matches_reference(
            tr, p, schemes.Strategy(TOY, r), "gd", 0.05, 3, None, None, None
        )

    return use


def _check_registry(consumer, result, score, srange, losses, r, min_batch) -> bool:
    mb = 2 if min_batch is None else int(min_batch)
    if consumer in ("sample_weights", "batched"):
        x = _f64(losses)
        rows = [x] if consumer == "sample_weights" else [x, x[::-1]]
        want = np.stack([_softmax_ref(_f64(score(_normalize_ref(v), 1.0)), r) for v in rows])
        got = _f64(result).reshape(want.shape)
        dtype_ok = (
            result.dtype == (np.float32 if losses.dtype == np.float32 else np.float64)
            if isinstance(result, np.ndarray) and consumer == "sample_weights"
            else True
        )
        return dtype_ok and np.allclose(got, want, rtol=1e-4, atol=1e-6)
    spread = float(srange(1.0))
    if consumer == "worst_case_rho":
        want = 1.0 if 10 < mb or spread == 0 else 10 / (1 + 9 * math.exp(-spread / r))
        return isinstance(result, float) and math.isclose(result, want, rel_tol=1e-12)
    if consumer == "cap_safe":
        want = 0.0 if 10 <= 2 or 10 < mb else spread / math.log(2 * 9 / 8)
        return isinstance(result, float) and math.isclose(result, want, rel_tol=1e-12)
    return result is True


# ------------------------------------------------------------------ the cap analysis
def scenario_cap(data) -> Call:
    """worst_case_rho / cap_safe_temperature at any n (numpy integers, n beyond float64)."""
    a = Args(data, 3)
    fn = data.draw(st.sampled_from(["worst_case_rho", "cap_safe_temperature"]), label="fn")
    strategy = a("strategy", st.sampled_from(["linupper", "quadratic", "extremes", "upper"]))
    n = a(
        "n",
        st.sampled_from([10**400, 2**60, 2**53 + 1, np.int64(7), np.uint16(50), 12]),
        st.sampled_from([0, -5, 2.5, "10", None, True, np.array([3]), 10.0]),
    )
    if fn == "worst_case_rho":
        r = a("temperature", positive(0.05, 20), st.sampled_from(BAD_POSITIVE))

        def run():
            return rw.worst_case_rho(strategy, n, r)

        def check(res):
            spread = 1.0  # every built-in strategy's score range at delta = 1
            limit = math.exp(spread / float(r))  # the supremum's limit as n grows, any top
            nn = int(n)
            ok = isinstance(res, float) and 1.0 <= res <= min(nn, limit * (1 + 1e-12)) + 1e-12
            if nn > 10**6:  # at huge n the supremum is the limit e^{spread/r}/top
                ok = ok and math.isclose(res, limit, rel_tol=1e-6)
            return ok

        return a.call(fn, run, check)
    rho = a(
        "rho", st.floats(1.0, 10.0), st.sampled_from([0.5, -1.0, math.nan, math.inf, "2", None])
    )

    def run():
        return rw.cap_safe_temperature(strategy, n, rho)

    def check(res):
        if not isinstance(res, float) or math.isnan(res) or res < 0:
            return False
        if res in (0.0, math.inf):
            return True
        return rw.worst_case_rho(strategy, n, res * (1 + 1e-9)) <= rho * (1 + 1e-9)

    return a.call(fn, run, check)


# ------------------------------------------------------------------ the bisection
def scenario_bisection(data) -> Call:
    a = Args(data, 2)
    gaps = np.array(data.draw(st.lists(st.floats(0, 5), min_size=2, max_size=8), label="gaps"))
    r = data.draw(st.floats(0.1, 5), label="temperature")
    rho = data.draw(st.floats(1.0, 4.0), label="rho")
    tol = a(
        "tol",
        st.sampled_from([1e-10, 1e-12, np.float64(1e-8), 1e-300]),
        st.sampled_from([0.0, -1e-10, math.nan, math.inf, "1e-10", None]),
    )
    max_iter = a(
        "max_iter",
        st.sampled_from([4000, np.int64(4000), 2000]),
        st.sampled_from([0, -1, 1, 5, 2.5, "100", None, True]),
    )

    def run():
        return rw.kl_capped_weights_bisection(gaps, r, rho, tol=tol, max_iter=max_iter)

    def check(w):
        want = rw.kl_capped_weights(gaps, r, rho)
        return _simplex(w, len(gaps), 1e-6) and np.allclose(w, want, atol=1e-6)

    return a.call("kl_capped_weights_bisection", run, check)


# ------------------------------------------------------------------ the batched pipeline
def scenario_batched(data) -> Call:
    a = Args(data, 2)
    R, b = data.draw(st.integers(1, 3), label="R"), data.draw(st.integers(2, 6), label="b")
    X = np.array(
        data.draw(st.lists(st.floats(0, 20), min_size=R * b, max_size=R * b), label="X")
    ).reshape(R, b)
    temps = data.draw(st.lists(st.floats(0.2, 5), min_size=R, max_size=R), label="temps")
    fn = data.draw(st.sampled_from(["batched_sample_weights", "batched_tempered_softmax"]))
    temperature = a(
        "temperature",
        st.sampled_from([temps[0], [[t] for t in temps], np.array(temps)[:, None]]),
        st.sampled_from(
            [[["1"]] * R, [[-1.0]] * R, [[t] for t in temps] + [[1.0], [1.0]], "1", None]
        ),
    )
    if fn == "batched_tempered_softmax":

        def run():
            return pipeline.batched_tempered_softmax(X, temperature)

        def check(w):
            t = np.broadcast_to(np.asarray(temperature, dtype=np.float64).reshape(-1, 1), (R, 1))
            return np.allclose(w, [_softmax_ref(X[i], t[i, 0]) for i in range(R)], atol=1e-9)

        return a.call(fn, run, check)
    names = data.draw(
        st.lists(st.sampled_from(["linupper", "quadratic", "uniform"]), min_size=R, max_size=R)
    )
    strategy = a(
        "strategy",
        st.sampled_from([names[0], names, tuple(names)]),
        st.sampled_from([None, 3, names + ["linupper"], [None] * R, "linear"]),
    )

    def run():
        return pipeline.batched_sample_weights(X, strategy, temperature)

    def check(w):
        t = np.broadcast_to(np.asarray(temperature, dtype=np.float64).reshape(-1, 1), (R, 1))
        per_row = [strategy] * R if isinstance(strategy, str) else list(strategy)
        want = [rw.sample_weights(X[i], per_row[i], t[i, 0]) for i in range(R)]
        return np.allclose(w, want, atol=1e-9)

    return a.call(fn, run, check)


# ------------------------------------------------------------------ the problems
BAD_SEEDS = ["12", -1, [], [1.5], 0, None, True, [-1], [[0]], 2.5]


def scenario_regression(data) -> Call:
    a = Args(data, 10)
    seeds = a(
        "seeds",
        st.sampled_from([1, 2, [0, 3], (5,), range(2), np.arange(2)]),
        st.sampled_from(BAD_SEEDS),
    )
    n = a("n", ints(4, 30), st.sampled_from([0, -3, *BAD_INTS, 10**12]))
    d = a("d", ints(1, 4), st.sampled_from([0, -1, *BAD_INTS]))
    frac = a(
        "outlier_fraction",
        st.floats(0.0, 0.5),
        st.sampled_from([1.0, -0.1, 0.999, math.nan, "0.1", None]),
    )
    noise = a(
        "noise",
        st.sampled_from([0.0, 0.1, 3.0, np.float64(1.0)]),
        st.sampled_from([-1.0, 1e308, math.nan, math.inf, "0.1", None]),
    )
    fscale = a("outlier_feature_scale", positive(0.1, 10), st.sampled_from(BAD_POSITIVE + [1e308]))
    n_test = a("n_test", ints(1, 5), st.sampled_from([0, -1, 2.5, "3"]))
    law = a(
        "outlier_feature_law",
        st.sampled_from(["gaussian", "student_t"]),
        st.sampled_from(["cauchy", None, 3]),
    )
    df = a(
        "outlier_feature_df",
        st.sampled_from([1.0, 3.0, 30.0]),
        st.sampled_from([0.0, -1.0, 1e-3, math.nan, "3"]),
    )
    tscale = a("outlier_target_scale", positive(0.1, 10), st.sampled_from(BAD_POSITIVE + [1e308]))
    if isinstance(n, (int, np.integer)) and not isinstance(n, bool) and 1 <= n < 10**6:
        if isinstance(frac, float) and 0 <= frac < 1 and int(n) - round(frac * int(n)) < 1:
            a.bad["outlier_fraction"] = ("outlier_fraction",)
    if df == 1e-3 and law != "student_t":
        a.bad.pop("outlier_feature_df", None)  # unused by the gaussian law: not bad there

    def run():
        return regression_with_outliers(
            seeds,
            n=n,
            d=d,
            outlier_fraction=frac,
            noise=noise,
            outlier_feature_scale=fscale,
            n_test=n_test,
            outlier_feature_law=law,
            outlier_feature_df=df,
            outlier_target_scale=tscale,
        )

    def check(p):
        R = len(list(range(seeds))) if isinstance(seeds, (int, np.integer)) else len(list(seeds))
        arrays = (p.A, p.b, p.A_test, p.b_test, p.x_true)
        return (
            p.A.shape == (R, n, d + 1)
            and p.b.shape == (R, n)
            and p.A_test.shape == (R, n_test, d + 1)
            and all(np.isfinite(x).all() for x in arrays)
            and np.all(p.outliers.sum(axis=1) == round(frac * n))
        )

    return a.call("regression_with_outliers", run, check)


def scenario_consistent(data) -> Call:
    a = Args(data, 5)
    seeds = a("seeds", st.sampled_from([1, 3, [2, 7]]), st.sampled_from(BAD_SEEDS))
    n = a("n", ints(1, 20), st.sampled_from([0, -3, *BAD_INTS]))
    d = a("d", ints(1, 6), st.sampled_from([0, *BAD_INTS]))
    condition = a(
        "condition",
        st.floats(1.0, 100.0),
        st.sampled_from([0.5, -1.0, math.inf, math.nan, 1e308, "10", None]),
    )
    spread = a(
        "row_spread",
        st.floats(1.0, 10.0),
        st.sampled_from([0.5, 0.0, math.inf, math.nan, 1e308, "1", None]),
    )

    def run():
        return consistent_least_squares(seeds, n=n, d=d, condition=condition, row_spread=spread)

    def check(p):
        norms = np.linalg.norm(p.A, axis=-1)
        return (
            p.A.shape[1:] == (n, d)
            and np.allclose(np.einsum("rnd,rd->rn", p.A, p.x_star), p.b, atol=1e-9)
            and np.all(norms >= 1 - 1e-9)
            and np.all(norms <= spread * (1 + 1e-9))
        )

    return a.call("consistent_least_squares", run, check)


def _bad_array(kind, shape):
    a = np.ones(shape)
    if kind == "nan":
        a.flat[0] = math.nan
    elif kind == "inf":
        a.flat[-1] = math.inf
    elif kind == "flat":
        a = a.reshape(-1)
    elif kind == "str":
        return np.full(shape, "x")
    elif kind == "none":
        return None
    elif kind == "list-ragged":
        return [[1.0], [1.0, 2.0]]
    elif kind == "extra":
        a = a[..., None]
    return a


def scenario_least_squares(data) -> Call:
    """LeastSquares(A, b, ...) built by hand."""
    a = Args(data, 5)
    R, n, d = (
        data.draw(st.integers(1, 3)),
        data.draw(st.integers(2, 6)),
        data.draw(st.integers(1, 3)),
    )
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    A0, xs = rng.standard_normal((R, n, d)), rng.standard_normal((R, d))
    kinds = st.sampled_from(["nan", "inf", "flat", "str", "none", "list-ragged", "extra"])
    A = a("A", st.just(A0), kinds.map(lambda k: _bad_array(k, (R, n, d))))
    b = a("b", st.just(np.einsum("rnd,rd->rn", A0, xs)), kinds.map(lambda k: _bad_array(k, (R, n))))
    x_star = a(
        "x_star",
        st.sampled_from([None, xs]),
        st.sampled_from(["nan", "flat", "str", "extra"]).map(lambda k: _bad_array(k, (R, d))),
    )
    outliers = a(
        "outliers",
        st.sampled_from([None, np.zeros((R, n), bool)]),
        st.sampled_from([np.zeros((R, n)), np.zeros((R, n + 1), bool), "x"]),
    )
    params = a(
        "params",
        st.sampled_from([{}, {"seeds": list(range(R))}]),
        st.sampled_from(
            [[1], {"seeds": list(range(R + 1))}, {"seeds": [-1] * R}, {"seeds": "0" * R}]
        ).map(lambda v: Named(v, ("params", "seeds"))),
    )

    def run():
        p = LeastSquares(A, b, x_star=x_star, outliers=outliers, params=params)
        return p, p.loss(np.zeros((R, d))), p.take([0])

    def check(res):
        p, loss, one = res
        return p.A.dtype == np.float64 and np.all(np.isfinite(loss)) and one.runs == 1

    return a.call("LeastSquares", run, check)


# ------------------------------------------------------------------ the engine
GOOD_SCHEMES = [
    lambda: schemes.Strategy("linupper", 1.0),
    lambda: schemes.Strategy("quadratic", 0.5),
    lambda: schemes.Strategy("linupper", temp_decay),
    lambda: schemes.KLCapped(0.5, 2.0),
    lambda: schemes.DROKL(1.0),
    lambda: adversaries.SmallestGaps(2.0),
    lambda: adversaries.DirichletWeights(3),
    lambda: SoftScheme(),
]


def _bad_schemes():
    named = [Named(s, (type(s).__name__,)) for s in BAD_SCHEMES]
    named.append(Named(UnhashableScheme(), ("schemes", "UnhashableScheme")))
    named += [Named(v, ("schemes",)) for v in ("linupper", None, 3)]
    return st.sampled_from(named) | st.sampled_from(BAD_SCHEDULES).map(
        lambda f: Named(schemes.Strategy("linupper", f), (f.__name__,))
    )


def _problem_arg(a: Args, data, name="problem"):
    """A small least-squares problem, or a bad one: data changed in place after
    construction (NaN in A, inf in b), or not a problem at all."""
    kind = data.draw(st.sampled_from(["outliers", "consistent"]), label="problem kind")
    p = _small_problem() if kind == "outliers" else consistent_least_squares(2, n=8, d=3)

    def broken(how):
        q = _small_problem()
        if how == "nan A":
            q.A[0, 0, 0] = math.nan
            return Named(q, ("A", name))
        if how == "inf b":
            q.b[1, 2] = math.inf
            return Named(q, ("b", name))
        return Named({"A": q.A}, (name, "problem"))

    return a(name, st.just(p), st.sampled_from(["nan A", "inf b", "dict"]).map(broken))


def _engine_args(a: Args, data, p, R):
    n = p.n if isinstance(p, LeastSquares) else 8
    method = a(
        "method",
        st.sampled_from(["gd", "sgd", "heavy_ball"]),
        st.sampled_from(["adam", None, ["gd"], 3]),
    )
    m = method if method in ("gd", "sgd", "heavy_ball") else "gd"
    good_b = {
        "gd": st.sampled_from([None, n]),
        "sgd": st.integers(1, n),
        "heavy_ball": st.sampled_from([None, 3, n]),
    }[m]
    bad_b = st.sampled_from([0, n + 1, 2.5, "2"] + ([n - 1] if m == "gd" else []))
    batch = a("batch_size", good_b, bad_b)
    if m == "sgd" and batch is None:
        a.bad["batch_size"] = ("batch_size",)
    lr = a(
        "lr",
        positive(0.01, 0.3) | st.lists(st.floats(0.01, 0.3), min_size=R, max_size=R),
        st.sampled_from(
            ["0.1", -1.0, 0.0, math.nan, math.inf, [0.1] * (R + 1), None, True, ["0.1"] * R]
        ),
    )
    steps = a("steps", ints(1, 5), st.sampled_from([0, -2, 2.5, "3", None]))
    lam_good = st.sampled_from([lam_constant, "list"])
    lam_bad = named_callable([lam_negative, lam_nan, lam_str]) | st.sampled_from(["short", "x"])
    lambdas = a("lambdas", lam_good, lam_bad) if m == "heavy_ball" else None
    if isinstance(steps, (int, np.integer)) and not isinstance(steps, bool) and steps >= 1:
        T = int(steps)
    else:
        T = 3
    if lambdas == "list":
        lambdas = [0.5] * (T + 1)
    elif lambdas == "short":
        lambdas = [0.5] * T
    d = p.d if isinstance(p, LeastSquares) else 3
    x0 = a(
        "x0",
        st.sampled_from([None, "small"]),
        st.sampled_from(["nan", "shape", "x", "huge"]),
    )
    x0 = {
        None: None,
        "small": np.full((R, d), 0.1),
        "nan": np.full((R, d), math.nan),
        "shape": np.zeros((R + 1, d)),
        "x": "x",
        "huge": np.full((R, d), 1e200),
    }[x0]
    factor = a(
        "divergence_factor",
        st.sampled_from([1e10, 1e3, 10.0]),
        st.sampled_from([1.0, 0.5, math.nan, "10", None]),
    )
    return dict(
        method=method,
        batch_size=batch,
        lr=lr,
        steps=steps,
        lambdas=lambdas,
        x0=x0,
        divergence_factor=factor,
    )


def _no_progress(k):
    return None


def scenario_engine(data) -> Call:
    a = Args(data, 12)
    p = _problem_arg(a, data)
    K = 2
    rows = a(
        "rows",
        st.sampled_from([None, [0, 1], [1, 1, 0], [0]]),
        st.sampled_from([[K], [-1], [], [0.5], "0", [[0]]]),
    )
    R = K if not isinstance(rows, list) or "rows" in a.bad else len(rows)
    scheme = a("schemes", st.sampled_from(GOOD_SCHEMES).map(lambda f: f()), _bad_schemes())
    kw = _engine_args(a, data, p, R)
    keep = a("keep_weights", st.booleans(), st.sampled_from(["no", 1, None]))
    progress = a("progress", st.sampled_from([None, _no_progress]), st.sampled_from(["x", 3]))

    def run():
        return engine.run(p, scheme, rows=rows, keep_weights=keep, progress=progress, **kw)

    def check(tr):
        kw2 = {k: kw[k] for k in ("method", "lr", "steps", "batch_size", "lambdas", "x0")}
        return _engine_matches_reference(tr, p, scheme, **kw2)

    return a.call("engine.run", run, check)


def scenario_reference(data) -> Call:
    a = Args(data, 9)
    p = _problem_arg(a, data, "problem_row")
    if isinstance(p, LeastSquares) and "problem_row" not in a.bad:
        p = p.take([data.draw(st.integers(0, 1), label="row")])
    elif isinstance(p, LeastSquares) and data.draw(st.booleans(), label="two rows"):
        a.bad["problem_row"] = ("problem_row",)
        p = _small_problem()
    scheme = a("scheme", st.sampled_from(GOOD_SCHEMES).map(lambda f: f()), _bad_schemes())
    if "scheme" in a.bad:
        a.bad["scheme"] = a.bad["scheme"] + ("scheme",)
    kw = _engine_args(a, data, p, 1)
    kw.pop("divergence_factor")
    a.bad.pop("divergence_factor", None)
    if kw["x0"] is not None and isinstance(kw["x0"], np.ndarray) and kw["x0"].shape[0] == 1:
        kw["x0"] = kw["x0"][0]

    def run():
        return run_reference(
            p,
            scheme,
            kw["method"],
            kw["lr"],
            kw["steps"],
            batch_size=kw["batch_size"],
            lambdas=kw["lambdas"],
            x0=kw["x0"],
        )

    def check(ref):
        x0 = None if kw["x0"] is None else np.asarray(kw["x0"])[None]
        tr = engine.run(
            p,
            scheme,
            method=kw["method"],
            lr=kw["lr"],
            steps=kw["steps"],
            batch_size=kw["batch_size"],
            lambdas=kw["lambdas"],
            x0=x0,
        )
        scale = 1 + np.abs(ref.iterates).max()
        return bool(tr.diverged_at[0] >= 0) or np.allclose(
            tr.iterates[0], ref.iterates, rtol=1e-8, atol=1e-8 * scale
        )

    return a.call("run_reference", run, check)


def scenario_sample_batches(data) -> Call:
    a = Args(data, 4)
    seed = a("seed", ints(0, 2**40), st.sampled_from([-1, 2.5, "1", None, True]))
    n = a("n", ints(1, 30), st.sampled_from([0, -1, 2.5, "5"]))
    nn = int(n) if "n" not in a.bad else 10
    b = a("batch_size", ints(1, nn), st.sampled_from([0, nn + 1, 2.5, "2"]))
    steps = a("steps", ints(0, 4), st.sampled_from([-1, 1.5, "2"]))

    def run():
        return engine.sample_batches(seed, n, b, steps)

    def check(out):
        ok = out.shape == (int(steps), int(b))
        for row in out:
            ok &= bool(np.all(np.diff(row) > 0) and row.min() >= 0 and row.max() < nn)
        return ok

    return a.call("sample_batches", run, check)


def scenario_schemes(data) -> Call:
    a = Args(data, 3)
    kind = data.draw(st.sampled_from(["Strategy", "KLCapped", "DROKL"]), label="kind")
    G, b = data.draw(st.integers(1, 3)), data.draw(st.integers(2, 7))
    L = np.array(data.draw(st.lists(st.floats(0, 30), min_size=G * b, max_size=G * b))).reshape(
        G, b
    )
    step = data.draw(st.integers(0, 5), label="step")
    temperature = a(
        "temperature",
        positive(0.1, 5) | st.just(temp_decay),
        st.sampled_from(BAD_POSITIVE) | named_callable(BAD_SCHEDULES),
    )
    if kind == "Strategy":
        strategy = a(
            "strategy",
            st.sampled_from(["linupper", "quadratic", "extremes"]),
            st.sampled_from(["linear", None, 3]),
        )
        delta = a("delta", positive(0.1, 5), st.sampled_from(BAD_POSITIVE))
        make = lambda: schemes.Strategy(strategy, temperature, delta)  # noqa: E731  (built lazily, inside the case)
    elif kind == "KLCapped":
        rho = a("rho", st.floats(1.0, 5.0), st.sampled_from([0.5, math.nan, "2", None]))
        make = lambda: schemes.KLCapped(temperature, rho)  # noqa: E731  (built lazily, inside the case)
    else:
        make = lambda: schemes.DROKL(temperature)  # noqa: E731  (built lazily, inside the case)

    def run():
        return make()(L, step)

    def check(w):
        r = temperature(step) if callable(temperature) else float(temperature)
        if kind == "Strategy":
            want = [rw.sample_weights(row, strategy, r, float(delta)) for row in L]
        elif kind == "KLCapped":
            want = [rw.kl_capped_weights(row, r, rho) for row in L]
        else:
            want = [rw.dro_kl_weights(row, r) for row in L]
        return np.allclose(w, want, atol=1e-9)

    return a.call(kind, run, check)


def scenario_adversaries(data) -> Call:
    a = Args(data, 3)
    kind = data.draw(
        st.sampled_from(["DirichletWeights", "SmallestGaps", "RandomCapped", "AlternatingCap"]),
        label="kind",
    )
    G, b = data.draw(st.integers(1, 3)), data.draw(st.integers(2, 7))
    L = np.array(data.draw(st.lists(st.floats(0, 30), min_size=G * b, max_size=G * b))).reshape(
        G, b
    )
    step = data.draw(st.integers(0, 5), label="step")
    seed = (
        a("seed", ints(0, 1000), st.sampled_from([-1, 2.5, "1", None]))
        if kind in ("DirichletWeights", "RandomCapped")
        else 0
    )
    rho = (
        a("rho", st.floats(1.0, 5.0), st.sampled_from([0.5, math.nan, math.inf, "2", None]))
        if kind != "DirichletWeights"
        else 2.0
    )
    conc = (
        a("concentration", positive(0.1, 5), st.sampled_from(BAD_POSITIVE))
        if kind == "DirichletWeights"
        else 1.0
    )
    temp = (
        a("temperature", positive(0.05, 2), st.sampled_from(BAD_POSITIVE))
        if kind == "RandomCapped"
        else 0.1
    )

    def run():
        cls = getattr(adversaries, kind)
        obj = {
            "DirichletWeights": lambda: cls(seed, conc),
            "SmallestGaps": lambda: cls(rho),
            "RandomCapped": lambda: cls(seed, rho, temp),
            "AlternatingCap": lambda: cls(rho),
        }[kind]()
        return obj(L, step)

    def check(w):
        capped = kind != "DirichletWeights" and not (kind == "AlternatingCap" and step % 2 == 0)
        return _simplex(w, b, 1e-9) and (not capped or np.all(w <= min(rho / b, 1) * (1 + 1e-9)))

    return a.call(kind, run, check)


# ------------------------------------------------------------------ GLM and non-convex
def user_value(u, b):
    return 0.5 * (u - b) ** 2


def user_derivative(u, b):
    return u - b


def value_short(u, b):
    return (0.5 * (u - b) ** 2)[..., :-1]


def value_nan(u, b):
    return u * math.nan


def value_list(u, b):
    return (0.5 * (u - b) ** 2).tolist()


def derivative_inf(u, b):
    return u + math.inf


def _glm_problem(a: Args, data):
    base = consistent_least_squares(2, n=8, d=3)
    family = data.draw(
        st.sampled_from(
            ["huber", "log_cosh", "geman_mcclure", "squared", "user", "sigmoid", "gm_regression"]
        ),
        label="family",
    )
    a.values["family"] = family
    if family in ("huber", "log_cosh", "geman_mcclure"):
        pname = "delta" if family == "huber" else "scale"
        v = a(pname, positive(0.2, 5), st.sampled_from(BAD_POSITIVE))
        return lambda: glm.from_least_squares(base, glm.make_loss(family, v))
    if family == "squared":
        name = a("loss", st.just("squared"), st.sampled_from(["cubic", None, 3]))
        return lambda: glm.from_least_squares(base, glm.make_loss(name))
    if family == "user":
        value = a(
            "value", st.just(user_value), named_callable([value_short, value_nan, value_list])
        )
        deriv = a(
            "derivative",
            st.just(user_derivative),
            named_callable([derivative_inf]) | st.sampled_from([Named("x", ("derivative",))]),
        )
        curv = a(
            "curvature", st.sampled_from([1.0, 2]), st.sampled_from([-1.0, math.nan, "1", None])
        )
        convex = a("convex", st.booleans(), st.sampled_from(["no", 1, None]))
        return lambda: glm.from_least_squares(
            base, glm.Loss("user", value, deriv, curv, convex=convex)
        )
    if family == "sigmoid":
        return lambda: ncp.sigmoid_classification(2, n=8, d=3)
    return lambda: ncp.geman_mcclure_regression(2, n=8, d=3)


def scenario_glm(data) -> Call:
    a = Args(data, 11)
    make = _glm_problem(a, data)
    scheme = a(
        "schemes",
        st.sampled_from(GOOD_SCHEMES).map(lambda f: f())
        | st.sampled_from(GOOD_SCHEMES[:3]).map(lambda f: glm.OnGradientNorms(f())),
        _bad_schemes(),
    )
    kw = _engine_args(a, data, None, 2)
    family = a.values.get("family")
    if family in ("huber", "log_cosh", "sigmoid") and isinstance(kw["x0"], np.ndarray):
        # losses that grow at most linearly (or are bounded): f(x0) is finite at x0 = 1e200,
        # so such a start is good input for them
        if np.isfinite(kw["x0"]).all() and kw["x0"].shape == (2, 3):
            a.bad.pop("x0", None)

    def run():
        p = make()
        return p, glm.run(p, scheme, keep_weights=True, **kw)

    def check(res):
        p, tr = res
        ok = True
        for i in range(2):
            if tr.diverged_at[i] >= 0:
                continue
            f = p.take([i]).value(tr.iterates[i])
            ok &= bool(np.allclose(tr.train_loss[i], f, rtol=1e-9, atol=1e-12))
            ok &= _simplex(tr.weights[i], None, 1e-6)
        return ok

    return a.call("glm.run", run, check)


def scenario_nonconvex(data) -> Call:
    a = Args(data, 6)
    kind = data.draw(
        st.sampled_from(["sigmoid_classification", "geman_mcclure_regression", "gradient_bound"]),
        label="kind",
    )
    if kind == "gradient_bound":
        problem = a(
            "problem",
            st.sampled_from(["sigmoid", "gm"]),
            st.sampled_from([Named("x", ("problem",)), Named(None, ("problem",))]),
        )

        def run():
            p = problem
            if problem == "sigmoid":
                p = ncp.sigmoid_classification(2, n=6, d=2)
            elif problem == "gm":
                p = ncp.geman_mcclure_regression(2, n=6, d=2)
            return p, ncp.gradient_bound(p)

        def check(res):
            p, sigma = res
            G = p.sample_gradients(np.zeros((p.runs, p.d)))
            dev = np.linalg.norm(G - G.mean(axis=1, keepdims=True), axis=-1).max(axis=-1)
            return bool(np.all(sigma >= dev - 1e-12))

        return a.call(kind, run, check)
    seeds = a("seeds", st.sampled_from([1, [0, 4]]), st.sampled_from(BAD_SEEDS))
    n = a("n", ints(2, 20), st.sampled_from([0, *BAD_INTS]))
    d = a("d", ints(1, 4), st.sampled_from([0, -2, *BAD_INTS]))
    if kind == "sigmoid_classification":
        noise = a(
            "label_noise", st.floats(0, 0.5), st.sampled_from([0.6, -0.1, math.nan, "0.1", None])
        )
        scale = a("feature_scale", positive(0.1, 5), st.sampled_from(BAD_POSITIVE + [1e308]))

        def run():
            return ncp.sigmoid_classification(
                seeds, n=n, d=d, label_noise=noise, feature_scale=scale
            )

        def check(p):
            return p.A.shape[1:] == (n, d) and np.all(np.abs(p.b) == 1) and np.isfinite(p.A).all()

        return a.call(kind, run, check)
    frac = a("outlier_fraction", st.floats(0, 0.5), st.sampled_from([1.0, -0.1, math.nan, "0.2"]))
    noise = a("noise", st.floats(0, 1), st.sampled_from([-1.0, math.nan, math.inf, "0.1", 1e308]))
    scale = a("scale", positive(0.1, 5), st.sampled_from(BAD_POSITIVE))
    oscale = a("outlier_scale", positive(0.1, 50), st.sampled_from(BAD_POSITIVE + [1e308]))

    def run():
        return ncp.geman_mcclure_regression(
            seeds, n=n, d=d, scale=scale, outlier_fraction=frac, noise=noise, outlier_scale=oscale
        )

    def check(p):
        return p.A.shape[1:] == (n, d) and np.isfinite(p.b).all() and np.isfinite(p.A).all()

    return a.call(kind, run, check)


# ------------------------------------------------------------------ grids
#: A grid small enough to load in microseconds (as in tests/experiments/test_robustness.py).
TINY_GRID = dict(
    seeds=10,
    sample_seed=1,
    settings_per_family=6,
    include_base=False,
    axes=dict(
        n_d=["40x5", "30x25"],
        noise=[0.1],
        outlier_features=["gaussian:1", "gaussian:10"],
        outlier_targets=[1.0],
        lr=["0.1", "0.5/L"],
        steps=[60],
    ),
    fig7=dict(outlier_fraction=[0.1], r=[1.0]),
    fig8=dict(outlier_fraction=[0.25, 0.35], r=[1.0], tau=[0.4, 1.0]),
    r_sensitivity=dict(outlier_fraction=[0.1]),
    max_weight=dict(outlier_fraction=[0.1], batch=[8], tau=[1.0]),
)

_DROP = object()
#: (where, value): a good change of TINY_GRID (where: a key path).
GOOD_GRID_CHANGES = [
    (("seeds",), 3),
    (("settings_per_family",), 2),
    (("axes", "noise"), [0.0, 0.5]),
    (("axes", "steps"), [10, 20]),
    (("axes", "lr"), ["0.2/L", "1e-2"]),
    (("axes", "outlier_features"), ["student_t3:2", "gaussian:0.5"]),
    (("fig7", "outlier_fraction"), [0.0001, 0.3]),
    (("max_weight", "batch"), [1, 30]),
    (("include_base",), False),
    (("fig8", "tau"), [0.1]),
]
#: (where, value, words): a bad change and the words its error must name.
BAD_GRID_CHANGES = [
    (("axes", "steps"), [300.5], ("steps",)),
    (("axes", "steps"), ["300"], ("steps",)),
    (("axes", "steps"), [0], ("steps",)),
    (("axes", "steps"), [], ("steps",)),
    (("axes", "steps"), [True], ("steps",)),
    (("max_weight", "batch"), [100000], ("batch",)),
    (("max_weight", "batch"), [0], ("batch",)),
    (("max_weight", "batch"), [8.5], ("batch",)),
    (("fig7", "outlier_fraction"), [0.999], ("outlier_fraction",)),
    (("fig7", "outlier_fraction"), [1.5], ("outlier_fraction",)),
    (("fig7", "outlier_fraction"), [math.nan], ("outlier_fraction",)),
    (("axes", "noise"), [-1.0], ("noise",)),
    (("axes", "noise"), [math.inf], ("noise",)),
    (("axes", "noise"), [0.1, 0.1], ("noise",)),
    (("axes", "n_d"), ["1x5"], ("n_d",)),
    (("axes", "n_d"), ["abc"], ("n_d",)),
    (("axes", "n_d"), [5], ("n_d",)),
    (("axes", "lr"), ["fast"], ("lr",)),
    (("axes", "lr"), ["0/L"], ("lr",)),
    (("axes", "outlier_features"), ["student_t0.001:1"], ("outlier_features",)),
    (("axes", "outlier_features"), ["cauchy:1"], ("outlier_features",)),
    (("axes", "outlier_targets"), [0.0], ("outlier_targets",)),
    (("axes", "outlier_targets"), ["1"], ("outlier_targets",)),
    (("fig8", "tau"), [-1.0], ("tau",)),
    (("fig7", "r"), [math.nan], ("r",)),
    (("seeds",), 0, ("seeds",)),
    (("seeds",), "10", ("seeds",)),
    (("seeds",), 2.5, ("seeds",)),
    (("seeds",), _DROP, ("seeds",)),
    (("sample_seed",), -1, ("sample_seed",)),
    (("settings_per_family",), 0, ("settings_per_family",)),
    (("include_base",), "yes", ("include_base",)),
    (("bogus",), 1, ("bogus",)),
    (("axes", "foo"), [1], ("foo",)),
    (("fig7", "r"), _DROP, ("fig7", "r")),
    (("axes",), [1], ("axes",)),
    (("fig7",), "x", ("fig7",)),
]


def _changed(base: dict, where, value) -> dict:
    g = copy.deepcopy(base)
    node = g
    for k in where[:-1]:
        node = node[k]
    if value is _DROP:
        node.pop(where[-1], None)
    else:
        node[where[-1]] = value
    return g


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v == math.inf else repr(v))
    if isinstance(v, (int, str)):
        return json.dumps(v) if isinstance(v, str) else str(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(v)


def to_toml(grid: dict) -> str:
    """A grid mapping as TOML text (scalars first, then one table per mapping; a table given
    as something else is written as a value)."""
    lines, tables = [], []
    for k, v in grid.items():
        (tables if isinstance(v, dict) else lines).append((k, v))
    out = [f"{k} = {_toml_value(v)}" for k, v in lines]
    for k, v in tables:
        out += ["", f"[{k}]"] + [f"{a} = {_toml_value(b)}" for a, b in v.items()]
    return "\n".join(out) + "\n"


def _grid_check(grid: dict):
    def check(g):
        sizes = {f: len(g.settings(f)) for f in ("fig7", "fig8", "r_sensitivity", "max_weight")}
        return g.seeds == grid["seeds"] and all(
            1 <= k <= grid["settings_per_family"] for k in sizes.values()
        )

    return check


def scenario_grid_mapping(data) -> Call:
    from rwtheory.experiments.robustness_grid import load_grid

    is_bad = data.draw(st.integers(0, 9), label="bad?") < 5
    if is_bad:
        where, value, words = data.draw(st.sampled_from(BAD_GRID_CHANGES), label="change")
    else:
        where, value = data.draw(st.sampled_from(GOOD_GRID_CHANGES), label="change")
    grid = _changed(TINY_GRID, where, value)
    desc = f"load_grid(mapping with {'.'.join(where)} = {_short(value)})"
    bad = {"grid": words} if is_bad else {}
    return Call(
        "load_grid(mapping)", lambda: load_grid(grid), bad, ("grid",), _grid_check(grid), desc
    )


#: File-level damage of a grid file, and the words its error must name (the file).
FILE_DAMAGE = ["latin-1", "truncated", "garbage", "empty", "binary", "directory", "missing"]


def _damaged(text: str, how: str, path: Path) -> Path:
    if how == "directory":
        path.mkdir()
        return path
    if how == "missing":
        return path
    raw = text.encode()
    raw = {
        "latin-1": raw.replace(b"seeds", b"# caf\xe9\nseeds", 1),
        "truncated": raw[: len(raw) // 2] + b"[[[",
        "garbage": b"this is not = = toml [\n",
        "empty": b"",
        "binary": b"\x00\x01\x02\xff" * 8,
    }[how]
    path.write_bytes(raw)
    return path


def scenario_grid_file(data) -> Call:
    from rwtheory.experiments.robustness_grid import load_grid

    kind = data.draw(st.sampled_from(["good", "bad content", "damaged"]), label="kind")
    tmp = Path(tempfile.mkdtemp(prefix="grid-"))
    path = tmp / "mygrid.toml"
    if kind == "good":
        where, value = data.draw(st.sampled_from(GOOD_GRID_CHANGES), label="change")
        grid, bad = _changed(TINY_GRID, where, value), {}
        path.write_text(to_toml(grid), encoding="utf-8")
        desc = f"load_grid(file with {'.'.join(where)} = {_short(value)})"
    elif kind == "bad content":
        where, value, words = data.draw(
            st.sampled_from([c for c in BAD_GRID_CHANGES if c[0] not in (("axes",), ("fig7",))]),
            label="change",
        )
        grid, bad = _changed(TINY_GRID, where, value), {"grid": words}
        path.write_text(to_toml(grid), encoding="utf-8")
        desc = f"load_grid(file with {'.'.join(where)} = {_short(value)})"
    else:
        how = data.draw(st.sampled_from(FILE_DAMAGE), label="damage")
        grid = TINY_GRID
        path = _damaged(to_toml(grid), how, path)
        bad, desc = {"grid": ("mygrid.toml", "grid")}, f"load_grid({how} file)"

    def run():
        try:
            return load_grid(path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    return Call("load_grid(file)", run, bad, ("grid",), _grid_check(grid), desc)


# ------------------------------------------------------------------ a study's folder
STUDY = ROOT / "figures" / "robustness"
STUDY_FILES = [
    "grid.json",
    "fig7_settings.csv",
    "fig8_settings.csv",
    "r_sensitivity_settings.csv",
    "max_weight_settings.csv",
]


def _edit_grid_json(text, how):
    doc = json.loads(text)
    if how == "{}":
        return "{}"
    if how == "no version":
        doc.pop("version")
    elif how == "seeds -1":
        doc["seeds"] = -1
    elif how == "steps 300.5":
        doc["axes"]["fig7"]["steps"] = [300.5]
    elif how == "extra key":
        doc["bogus"] = 1
    elif how == "axes list":
        doc["axes"] = [1]
    return json.dumps(doc)


def _edit_csv(text, how):
    lines = text.splitlines()
    head = [i for i, ln in enumerate(lines) if not ln.startswith("#")][0]
    cols = lines[head].split(",")
    row = lines[head + 1].split(",")
    where = {
        "status": cols.index("status"),
        "claim": cols.index("claim"),
        "setting": cols.index("setting"),
        "margin": cols.index("margin"),
    }
    value = {"status": "maybe", "claim": "fig7.nonsense", "setting": "999", "margin": "abc"}
    row[where[how]] = value[how]
    lines[head + 1] = ",".join(row)
    return "\n".join(lines) + "\n"


STUDY_DAMAGE = [
    ("grid.json", "non-JSON"),
    ("grid.json", "latin-1"),
    ("grid.json", "empty"),
    ("grid.json", "{}"),
    ("grid.json", "no version"),
    ("grid.json", "seeds -1"),
    ("grid.json", "steps 300.5"),
    ("grid.json", "extra key"),
    ("grid.json", "axes list"),
    ("grid.json", "missing"),
    ("fig7_settings.csv", "status"),
    ("fig7_settings.csv", "claim"),
    ("fig8_settings.csv", "setting"),
    ("max_weight_settings.csv", "margin"),
    ("fig7_settings.csv", "latin-1"),
]


def make_study_copy(damage=None, parent=None) -> Path:
    """A copy of the committed study's files in a new temporary folder (inside ``parent``
    if given), ``damage`` (file, how) applied."""
    tmp = Path(tempfile.mkdtemp(prefix="study-", dir=parent))
    for name in STUDY_FILES:
        shutil.copyfile(STUDY / name, tmp / name)
    if damage is None:
        return tmp
    name, how = damage
    path = tmp / name
    text = path.read_text(encoding="utf-8")
    if how == "missing":
        path.unlink()
    elif how == "non-JSON":
        path.write_text(text[: len(text) // 2], encoding="utf-8")
    elif how == "latin-1":
        path.write_bytes(text.encode().replace(b"\n", b"\n# caf\xe9\n", 1))
    elif how == "empty":
        path.write_text("", encoding="utf-8")
    elif name == "grid.json":
        path.write_text(_edit_grid_json(text, how), encoding="utf-8")
    else:
        path.write_text(_edit_csv(text, how), encoding="utf-8")
    return tmp


def scenario_study_folder(data) -> Call:
    from rwtheory.experiments import robustness_report

    damage = data.draw(st.none() | st.sampled_from(STUDY_DAMAGE), label="damage")
    folder = make_study_copy(damage)
    bad = {} if damage is None else {"out": (damage[0], "grid.json")}
    want = set(robustness_report.load(STUDY).claims) if damage is None else None

    def run():
        try:
            return robustness_report.load(folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def check(study):
        return set(study.claims) == want

    return Call("robustness_report.load", run, bad, ("out",), check, f"load({damage})")


def scenario_glm_parts(data) -> Call:
    """GLMProblem built by hand, from_least_squares, OnGradientNorms, the registry's
    look-ups."""
    kind = data.draw(
        st.sampled_from(["GLMProblem", "from_least_squares", "OnGradientNorms", "registry"]),
        label="kind",
    )
    a = Args(data, 4)
    base = consistent_least_squares(2, n=6, d=2)
    if kind == "GLMProblem":
        kinds = st.sampled_from(["nan", "inf", "flat", "str", "none", "extra"])
        A = a("A", st.just(base.A), kinds.map(lambda k: _bad_array(k, (2, 6, 2))))
        b = a("b", st.just(base.b), kinds.map(lambda k: _bad_array(k, (2, 6))))
        loss = a("loss", st.sampled_from(["huber", "squared"]), st.sampled_from(["huber-x", None]))
        x_star = a("x_star", st.sampled_from([None, base.x_star]), st.just(np.ones((3, 2))))

        def run():
            lf = glm.make_loss(loss) if loss in glm.LOSSES else loss
            p = glm.GLMProblem(A, b, lf, x_star=x_star)
            return p.value(np.zeros((2, 2)))

        def check(v):
            return v.shape == (2,) and np.all(np.isfinite(v))

        return a.call(kind, run, check)
    if kind == "from_least_squares":
        problem = a("problem", st.just(base), st.sampled_from(["x", None, 3]))
        loss = a(
            "loss", st.sampled_from(["huber", "log_cosh"]), st.sampled_from(["sigmoid", "x", None])
        )

        def run():
            lf = glm.make_loss(loss) if loss in glm.LOSSES else loss
            return glm.from_least_squares(problem, lf)

        def check(p):
            return np.array_equal(p.A, base.A) and np.allclose(p.value(base.x_star), 0)

        return a.call(kind, run, check)
    if kind == "OnGradientNorms":
        inner = a(
            "scheme",
            st.sampled_from(GOOD_SCHEMES[:3]).map(lambda f: f()),
            st.sampled_from(["linupper", None, 3]),
        )
        L = np.array([[1.0, 2.0, 3.0]])

        def run():
            return glm.OnGradientNorms(inner)(L, 0)

        return a.call(kind, run, lambda w: np.allclose(w, inner(L, 0)))
    name = a(  # the name of a strategy: its error may say "strategy"
        "name",
        st.sampled_from(["linupper", "quadratic"]),
        st.sampled_from(["x", None, 3, ["linupper"]]),
        words=("name", "strategy"),
    )
    fn = data.draw(st.sampled_from(["get_strategy", "unregister_strategy"]), label="fn")

    def run():
        if fn == "get_strategy":
            return strategies.get_strategy(name)
        if isinstance(name, str) and name in rw.STRATEGIES:  # a good name: a toy of our own
            strategies.register_strategy(strategies.StrategyRecord(TOY, lower, float))
            return strategies.unregister_strategy(TOY)
        return strategies.unregister_strategy(name)

    def check(rec):
        want = name if fn == "get_strategy" else TOY
        return rec.name == want and TOY not in rw.STRATEGIES

    return a.call(fn, run, check)


SCENARIOS = {
    "register_strategy": scenario_registry,
    "worst_case_rho/cap_safe_temperature": scenario_cap,
    "kl_capped_weights_bisection": scenario_bisection,
    "batched pipeline": scenario_batched,
    "regression_with_outliers": scenario_regression,
    "consistent_least_squares": scenario_consistent,
    "LeastSquares": scenario_least_squares,
    "engine.run": scenario_engine,
    "run_reference": scenario_reference,
    "sample_batches": scenario_sample_batches,
    "schemes": scenario_schemes,
    "adversaries": scenario_adversaries,
    "glm.run": scenario_glm,
    "GLM parts and registry look-ups": scenario_glm_parts,
    "non-convex problems": scenario_nonconvex,
    "load_grid(mapping)": scenario_grid_mapping,
    "load_grid(file)": scenario_grid_file,
    "robustness_report.load": scenario_study_folder,
}


# ------------------------------------------------------------------ the command line
LEDGER = ROOT / "paper_checks.json"


#: Damage of a ledger: how -> (function of the document or the raw text, bad words).
def _ledger_damage():
    def doc_edit(fn):
        def apply(text):
            doc = json.loads(text)
            fn(doc)
            return json.dumps(doc)

        return apply

    def set_(path, value):
        def fn(doc):
            node = doc
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] = value

        return fn

    def delete(path):
        def fn(doc):
            node = doc
            for k in path[:-1]:
                node = node[k]
            del node[path[-1]]

        return fn

    def dup(doc):
        doc["claims"][1]["id"] = doc["claims"][0]["id"]

    def tally(doc):
        doc["counts"]["status"]["holds"] += 1

    return {
        "non-JSON": lambda t: t[: len(t) // 3],
        "empty": lambda t: "",
        "latin-1": lambda t: t.replace('"title"', '"t\xe9tle"', 1),
        "{}": lambda t: "{}",
        "array": lambda t: "[]",
        "NaN number": lambda t: t.replace('"value": ', '"value": NaN, "x": ', 1),
        "no status": doc_edit(delete(("claims", 3, "status"))),
        "negative count": doc_edit(set_(("counts", "total"), -1)),
        "unknown scope": doc_edit(set_(("claims", 0, "scope"), "galaxy")),
        "id ../../etc": doc_edit(set_(("claims", 0, "id"), "../../etc")),
        "evidence ../": doc_edit(set_(("claims", 0, "evidence"), ["../../etc/passwd"])),
        "status number": doc_edit(set_(("claims", 2, "status"), 3)),
        "duplicate id": doc_edit(dup),
        "wrong tallies": doc_edit(tally),
        "claims not a list": doc_edit(set_(("claims",), {"a": 1})),
    }


LEDGER_DAMAGE = _ledger_damage()


def damaged_ledger(folder: Path, how: str) -> Path:
    text = LEDGER.read_text(encoding="utf-8")
    out = LEDGER_DAMAGE[how](text)
    path = folder / f"ledger-{re.sub(r'[^a-z0-9]+', '-', how.lower())}.json"
    if how == "latin-1":
        path.write_bytes(out.encode("latin-1", errors="replace"))
    else:
        path.write_text(out, encoding="utf-8")
    return path


@dataclass
class Command:
    """A command line, whether it is bad, and the words (an argument) its one-line error
    must name."""

    argv: list
    bad: bool
    words: tuple = ()
    timeout: float = 60.0
    label: str = ""


def cli_commands(tmp: Path) -> list[Command]:
    """The campaign's command lines: bad ones (each must exit with status 2 and one line
    naming the argument, before anything runs) and a few good controls (must succeed).
    Files they read are written into ``tmp``."""
    tmp.mkdir(parents=True, exist_ok=True)
    afile = tmp / "a-file"
    afile.write_text("x\n", encoding="utf-8")
    out = str(tmp / "out")
    good_grid = tmp / "good.toml"
    good_grid.write_text(to_toml(TINY_GRID), encoding="utf-8")
    # the good `report --readme` control refreshes a README's generated block: the README
    # must exist (a missing one is refused, since issue 21)
    readme = tmp / "README.md"
    readme.write_text(f"# Claims\n\n{README_BEGIN}\n(old table)\n{README_END}\n", encoding="utf-8")
    cmds = [
        Command([], True, ("COMMAND",)),
        Command(["bogus"], True, ("COMMAND",)),
        Command(["figures", "--bogus"], True, ("--bogus",)),
        Command(["figures", "--only", "fig99", "--out", out], True, ("--only",)),
        Command(["figures", "--seeds", "0", "--out", out], True, ("--seeds",)),
        Command(["figures", "--seeds", "x", "--out", out], True, ("--seeds",)),
        Command(["figures", "--workers", "-1", "--out", out], True, ("--workers",)),
        Command(["figures", "--out", ""], True, ("--out",)),
        Command(["figures", "--out", str(afile)], True, ("--out",)),
        Command(["figures", "--out", "/proc/rwtheory-x"], True, ("--out",)),
        Command(["check", "--only", "nonexistent", "--out", str(tmp / "c.md")], True, ("--only",)),
        Command(["check", "--out", str(tmp)], True, ("--out",)),
        Command(
            [
                "check",
                "--robustness",
                str(tmp / "missing"),
                "--only",
                "cap",
                "--quick",
                "--out",
                str(tmp / "c.md"),
            ],
            True,
            ("--robustness",),
        ),
        Command(
            [
                "check",
                "--robustness",
                str(afile),
                "--only",
                "cap",
                "--quick",
                "--out",
                str(tmp / "c.md"),
            ],
            True,
            ("--robustness",),
        ),
        Command(
            [
                "check",
                "--robustness",
                str(tmp),
                "--only",
                "cap",
                "--quick",
                "--out",
                str(tmp / "c.md"),
            ],
            True,
            ("--robustness",),
        ),
        Command(["reproduce", "--workers", "0"], True, ("--workers",)),
        Command(["reproduce", "--out", ""], True, ("--out",)),
        Command(
            ["robustness", "--grid", str(tmp / "missing.toml"), "--out", out], True, ("--grid",)
        ),
        Command(["robustness", "--only", "fig9.x", "--out", out], True, ("--only",)),
        Command(["robustness", "--seeds", "-3", "--out", out], True, ("--seeds",)),
        Command(
            [
                "robustness",
                "--grid",
                str(good_grid),
                "--only",
                "fig7.linupper_fastest",
                "--scheduler",
                "bogus",
                "--out",
                out,
            ],
            True,
            ("--scheduler", "scheduler"),
        ),
        Command(
            ["report", "--ledger", str(tmp / "missing.json"), "--out", out], True, ("--ledger",)
        ),
        Command(["report", "--ledger", str(LEDGER), "--out", str(afile)], True, ("--out",)),
        Command(
            ["report", "--ledger", str(LEDGER), "--figures", str(tmp / "nowhere"), "--out", out],
            True,
            ("--figures",),
        ),
        Command(
            ["report", "--ledger", str(LEDGER), "--figures", str(afile), "--out", out],
            True,
            ("--figures",),
        ),
        Command(["compare", "--workers", "0"], True, ("--workers",)),
        Command(["compare", "--reference", str(tmp / "nowhere")], True, ("--reference",)),
        Command(["compare", "--run", str(afile)], True, ("--run",)),
        Command(["pins", "--bogus"], True, ("--bogus",)),
        Command(["--plugin", "no_such_module_rw", "figures", "--out", out], True, ("--plugin",)),
        Command(["--plugin", "", "figures", "--only", "fig1", "--out", out], True, ("--plugin",)),
        Command(["--plugin", "a b", "figures", "--out", out], True, ("--plugin",)),
    ]
    for i, (where, value, _) in enumerate(
        c for c in BAD_GRID_CHANGES if c[0] not in (("axes",), ("fig7",))
    ):
        path = tmp / f"bad-grid-{i}.toml"
        path.write_text(to_toml(_changed(TINY_GRID, where, value)), encoding="utf-8")
        cmds.append(
            Command(
                [
                    "robustness",
                    "--grid",
                    str(path),
                    "--only",
                    "fig7.linupper_fastest",
                    "--out",
                    out,
                ],
                True,
                ("--grid",),
            )
        )
    for how in FILE_DAMAGE[:5]:
        path = _damaged(to_toml(TINY_GRID), how, tmp / f"damaged-{how}.toml")
        cmds.append(
            Command(
                [
                    "robustness",
                    "--grid",
                    str(path),
                    "--only",
                    "fig7.linupper_fastest",
                    "--out",
                    out,
                ],
                True,
                ("--grid",),
            )
        )
    for how in LEDGER_DAMAGE:
        path = damaged_ledger(tmp, how)
        cmds.append(
            Command(
                ["report", "--ledger", str(path), "--out", out, "--readme", str(tmp / "README.md")],
                True,
                ("--ledger",),
            )
        )
    for damage in STUDY_DAMAGE:
        folder = make_study_copy(damage, tmp)
        argv = ["check", "--robustness", str(folder), "--only", "cap", "--quick"]
        label = f"check --robustness (study with {damage[0]}: {damage[1]})"
        cmds.append(
            Command(argv + ["--out", str(tmp / "c.md")], True, ("--robustness",), label=label)
        )
    # good controls
    cmds += [
        Command(["pins"], False),
        Command(["pins", "--export"], False),
        Command(
            [
                "report",
                "--ledger",
                str(LEDGER),
                "--out",
                str(tmp / "report"),
                "--readme",
                str(tmp / "README.md"),
            ],
            False,
        ),
        Command(
            [
                "check",
                "--robustness",
                str(STUDY),
                "--only",
                "cap",
                "--quick",
                "--out",
                str(tmp / "good.md"),
            ],
            False,
            timeout=300,
        ),
        Command(
            [
                "robustness",
                "--grid",
                str(good_grid),
                "--only",
                "fig7.linupper_fastest",
                "--seeds",
                "2",
                "--out",
                str(tmp / "rob-good"),
            ],
            False,
            timeout=300,
        ),
    ]
    for c in cmds:
        c.label = c.label or " ".join(
            "TMP" if a == str(tmp) else a.replace(str(tmp) + "/", "") for a in c.argv
        )
        c.label = c.label or "(none)"
    return cmds


def judge_command(cmd: Command, rc, stderr: str) -> str:
    """The class of one command's outcome: ``clean`` (bad: exit 2, one line naming the
    argument; good: exit 0), ``traceback``, ``silently accepted`` (bad, but exit 0 or still
    running at its timeout: ``rc`` None), ``not one line``, ``unnamed`` (one line, but the
    argument is not named), ``other exit`` (no traceback, status neither 0 nor 2), or for a
    good command ``valid refused``."""
    if "Traceback (most recent call last)" in stderr:
        return "traceback"
    if not cmd.bad:
        return "clean" if rc == 0 else "valid refused"
    if rc is None or rc == 0:
        return "silently accepted"
    if rc != 2:
        return "other exit"
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    if len(lines) != 1:
        return "not one line"
    return "clean" if _named(lines[0], cmd.words) else "unnamed"
