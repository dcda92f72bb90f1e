"""Good and bad inputs for every function of the public API, a simple float64 reference for
each, and the judge of one call. Shared by ``tests/test_public_api_properties.py`` (which
asserts) and ``benchmarks/bad_input_campaign.py`` (which counts).

A call's outcome is one of :data:`OUTCOMES`:

* ``correct``: returned, and the result agrees with the float64 reference (or, where the
  reference cannot be formed, satisfies the invariants: finite, on the simplex, ...);
* ``clean_error``: a ``ValueError``/``TypeError`` for a bad input whose message names the
  argument;
* ``documented_refusal``: the same for a good input that the function documents it refuses
  (:data:`DOCUMENTED_REFUSALS`: the bisection past the scaled spread its bracket resolves,
  a float32 ``normalize_losses`` with a delta float32 cannot hold);
* ``silent``: a returned result that is wrong, NaN, or accepts a bad input;
* ``unnamed_error``: a ``ValueError``/``TypeError`` that names no argument, or rejects a good
  input without a documented reason;
* ``crash``: any other exception (a deep traceback), or a warning that escaped.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from hypothesis import strategies as st

import rwtheory as rw
from rwtheory.lm import (
    SampleReweighter,
    default_chunk_size,
    gather_losses,
    per_sample_loss,
    per_sample_loss_from_hidden,
    reweighted_loss,
)

OUTCOMES = ("correct", "clean_error", "documented_refusal", "silent", "unnamed_error", "crash")
STRATEGY_NAMES = sorted(rw.STRATEGIES)

#: Good inputs a function may refuse, by documented design (message pattern).
DOCUMENTED_REFUSALS = {
    "kl_capped_weights_bisection": r"temperature must be >= .* in the bisection",
    "normalize_losses": r"delta must be in \[.*\] for .* losses",
}


@dataclass
class Case:
    """One call: the function's name, its keyword arguments, and which of them are bad."""

    fn: str
    kwargs: dict
    bad: set = field(default_factory=set)

    def __repr__(self):
        args = ", ".join(f"{k}={_short(v)}" for k, v in self.kwargs.items())
        return f"{self.fn}({args}) bad={sorted(self.bad)}"


def _short(v):
    text = repr(v).replace("\n", " ")
    return text if len(text) < 120 else text[:117] + "..."


# ------------------------------------------------------------------ array inputs
NP_DTYPES = [np.float16, np.float32, np.float64, np.longdouble, np.int64]
TORCH_DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]


def _working_dtype(x):
    """What the package promises to compute in (rwtheory._array's policy)."""
    dt = x.dtype
    if isinstance(x, torch.Tensor):
        return torch.float64 if dt == torch.float64 else torch.float32
    if dt in (np.float16, np.float32):
        return np.float32
    return np.float64


def _eps(x) -> float:
    dt = _working_dtype(x)
    return float(np.finfo(np.float32 if dt in (np.float32, torch.float32) else np.float64).eps)


def as_f64(x) -> np.ndarray:
    """The input's values in float64 (what the reference computes with)."""
    if isinstance(x, torch.Tensor):
        return x.detach().to(torch.float64).numpy()
    return np.asarray(x).astype(np.float64)


@st.composite
def good_vector(draw, *, nonneg=False, low_mag=-3, high_mag=3, min_size=1, max_size=10):
    """A finite 1-D numpy array or dense torch tensor, of any accepted dtype, possibly
    non-contiguous or read-only, with values of magnitudes 10**low_mag .. 10**high_mag
    that the dtype can hold."""
    use_torch = draw(st.booleans())
    dtype = draw(st.sampled_from(TORCH_DTYPES if use_torch else NP_DTYPES))
    n = draw(st.integers(min_size, max_size))
    top = float(
        torch.finfo(dtype).max
        if use_torch
        else (np.finfo(dtype).max if dtype != np.int64 else 1e15)
    )
    hi = min(high_mag, math.log10(top) - 1)
    mags = draw(st.lists(st.floats(low_mag, hi), min_size=n, max_size=n))
    signs = draw(
        st.lists(st.sampled_from([1.0, -1.0] if not nonneg else [1.0]), min_size=n, max_size=n)
    )
    values = [s * 10.0**m for s, m in zip(signs, mags, strict=True)]
    if draw(st.booleans()) and n > 1:  # ties are where bugs live
        values[-1] = values[0]
    if nonneg and draw(st.booleans()):
        values[0] = 0.0
    if use_torch:
        x = torch.tensor(values, dtype=torch.float64).to(dtype)
        if draw(st.booleans()) and n > 1:
            x = torch.stack([x, x], 1)[:, 0]  # non-contiguous
        return x
    a = np.array(values, dtype=np.float64)
    x = np.round(a).astype(np.int64) if dtype == np.int64 else a.astype(dtype)
    if draw(st.booleans()):
        x = np.repeat(x, 2)[::2]  # non-contiguous view
    if draw(st.booleans()):
        x.flags.writeable = False
    return x


def _sparse():
    return torch.tensor([1.0, 2.0, 3.0]).to_sparse()


def _nested():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.nested.nested_tensor([torch.ones(2), torch.ones(3)])


BAD_VECTORS = [
    lambda: np.array([1.0, np.nan, 2.0]),
    lambda: np.array([np.inf, 1.0]),
    lambda: torch.tensor([1.0, -math.inf]),
    lambda: np.array([]),
    lambda: torch.ones(0),
    lambda: np.float64(3.0),
    lambda: np.array(2.0),
    lambda: np.ones((2, 2)),
    lambda: np.array([True, False]),
    lambda: np.array([1 + 2j, 1.0]),
    lambda: torch.tensor([1 + 1j, 2]),
    lambda: np.array(["0.5", "1"]),
    lambda: np.array([1.0, None]),
    lambda: [[1.0], [1.0, 2.0]],
    lambda: "abc",
    lambda: None,
    lambda: {"a": 1.0},
    _sparse,
    lambda: torch.empty(3, device="meta"),
    _nested,
    lambda: np.ma.masked_array([1.0, 2.0], mask=[0, 1]),
    lambda: np.array([np.longdouble(1), np.longdouble("1e4000")]),
    lambda: torch.tensor([1, 2], dtype=torch.int8).bool(),
]


@st.composite
def bad_vector(draw):
    return draw(st.sampled_from(BAD_VECTORS))()


# ------------------------------------------------------------------ scalar inputs
@st.composite
def good_positive(draw, low=-300, high=300):
    """A positive number of magnitude 10**low .. 10**high as a float, numpy scalar, 0-d
    numpy array or 0-d torch tensor."""
    v = 10.0 ** draw(st.floats(low, high))
    form = draw(st.integers(0, 3))
    return [v, np.float64(v), np.array(v), torch.tensor(v, dtype=torch.float64)][form]


BAD_POSITIVES = [
    0.0,
    -1.0,
    math.nan,
    math.inf,
    -math.inf,
    1 + 0j,
    np.complex64(2),
    "1",
    None,
    True,
    np.array([1.0]),
    torch.tensor([1.0]),
    np.array("1"),
    [1.0],
]


@st.composite
def bad_positive(draw):
    return draw(st.sampled_from(BAD_POSITIVES))


def maybe_bad(good, bad, p_bad=0.25):
    """(value, is_bad) drawn from ``good`` or (about ``p_bad`` of the time) ``bad``."""
    return st.integers(0, 99).flatmap(
        lambda u: (
            bad.map(lambda v: (v, True)) if u < 100 * p_bad else good.map(lambda v: (v, False))
        )
    )


# ------------------------------------------------------------------ references
def softmax_ref(s, r):
    with np.errstate(over="ignore", under="ignore"):
        z = 2 * ((s / 2 - s.max() / 2) / r)
        e = np.exp(z)
    return e / e.sum()


def normalize_ref(x, delta):
    lmax, lmin = x.max(), x.min()
    half = max(lmax / 2 - lmin / 2, rw.weights.pipeline.NORMALIZE_EPS / 2)
    with np.errstate(over="ignore"):
        return np.clip((x - (lmax / 2 + lmin / 2)) / half * delta, -delta, delta)


def scores_ref(t, strategy, delta):
    return {
        "uniform": np.zeros_like(t),
        "linupper": np.minimum(t + delta, delta),
        "quadratic": 1 - (t / delta) ** 2,
        "extremes": np.abs(t),
        "upper": (t + delta) / 2,
    }[strategy]


def kl_capped_ref(g, r, rho):
    """Water-filling by trying every number of capped entries (O(n^2), float64)."""
    n = g.shape[0]
    cap = min(rho / n, 1.0)
    e = np.exp((g - g.max()) / r)
    order = np.argsort(-e, kind="stable")
    for k in range(n):
        free = order[k:]
        scale = (1 - k * cap) / e[free].sum()
        w = np.full(n, cap)
        w[free] = e[free] * scale
        if w[free].max() <= cap * (1 + 1e-12) and (
            k == 0 or e[order[k - 1]] * scale >= cap * (1 - 1e-12)
        ):
            return w
    return np.full(n, 1 / n)


def _to_np(w):
    if isinstance(w, torch.Tensor):
        return w.detach().cpu().to(torch.float64).numpy()
    return np.asarray(w, dtype=np.float64)


def _check_simplex(w, eps, n):
    w = _to_np(w)
    return bool(
        np.all(np.isfinite(w)) and np.all(w >= 0) and abs(w.sum() - 1) <= 8 * n * eps + 1e-12
    )


def _check_kind(result, x):
    """Same kind (numpy/torch) as the input and the promised working dtype."""
    if isinstance(x, torch.Tensor):
        return isinstance(result, torch.Tensor) and result.dtype == _working_dtype(x)
    return isinstance(result, np.ndarray) and result.dtype == _working_dtype(np.asarray(x))


def _close(w, ref, atol):
    return bool(np.allclose(_to_np(w), ref, rtol=0, atol=atol))


def _f(v):
    """A good scalar's value as a float."""
    return float(v.item()) if isinstance(v, (np.ndarray, torch.Tensor)) else float(v)


# ------------------------------------------------------------------ the functions
def check_softmax_like(result, x, r, fn):
    if not (_check_kind(result, x) and _check_simplex(result, _eps(x), len(x))):
        return False
    ref = softmax_ref(as_f64(x), r)
    return _close(result, ref, 20 * _eps(x))


def check_sample_weights(result, kw):
    x, r, delta, s = kw["losses"], _f(kw["temperature"]), _f(kw["delta"]), kw["strategy"]
    if not (_check_kind(result, x) and _check_simplex(result, _eps(x), len(x))):
        return False
    # rounding of the normalised losses (eps * delta) moves the exponent by eps * delta / r:
    # compare with the reference only where that is small
    if r < 1e4 * _eps(x) * delta:
        return True
    t = normalize_ref(as_f64(x), delta)
    ref = np.full(len(t), 1 / len(t)) if s == "uniform" else softmax_ref(scores_ref(t, s, delta), r)
    return _close(result, ref, 1e-4 if _eps(x) > 1e-10 else 1e-9)


def check_kl_capped(result, kw):
    g, r, rho = kw["gaps"], _f(kw["temperature"]), _f(kw["rho"])
    n = len(g)
    eps = max(_eps(g), 1e-9 / n if kw.get("_bisection") else 0)  # the bisection's tol 1e-10
    if not (
        _check_simplex(result, eps, n) and _to_np(result).max() <= min(rho / n, 1) * (1 + 1e-5)
    ):
        return False
    g64 = as_f64(g)
    if (g64.max() - g64.min()) / r > 600:  # the simple reference underflows; invariants only
        w = _to_np(result)
        hi = g64[:, None] > g64[None, :]
        return bool(np.all(w[:, None] >= w[None, :] - 1e-6, where=hi))
    atol = 1e-4 if _eps(g) > 1e-10 else 1e-8
    if kw.get("_bisection"):
        atol = max(atol, 1e-6)
    return _close(result, kl_capped_ref(g64, r, rho), atol)


def check_normalize(result, kw):
    x, delta = kw["losses"], _f(kw["delta"])
    if not _check_kind(result, x):
        return False
    w = _to_np(result)
    ref = normalize_ref(as_f64(x), delta) / delta
    return bool(np.all(np.isfinite(w)) and _close(w / delta, ref, 50 * _eps(x)))


def _simplex_from(x):
    e = np.exp(-np.abs(as_f64(x)) / (np.abs(as_f64(x)).max() + 1))
    w = e / e.sum()
    return torch.from_numpy(w) if isinstance(x, torch.Tensor) else w


@dataclass
class Spec:
    """How to draw one function's arguments and how to judge a returned result."""

    call: callable
    params: dict  # name -> (good strategy, bad strategy)
    check: callable  # (result, kwargs) -> bool


TEMPS = (good_positive(), bad_positive())
STRAT = (st.sampled_from(STRATEGY_NAMES), st.sampled_from(["linear", "", None, 1, "LinUpper"]))
VEC = (good_vector(), bad_vector())
GAPS = (good_vector(nonneg=True), bad_vector() | st.just(np.array([1.0, -0.5])))
DELTA = (good_positive(-30, 30), bad_positive() | st.just(1e308))
DELTA_CAP = (good_positive(-30, 30), bad_positive())  # formulas only: any finite delta > 0
RHO = (
    st.floats(1.0, 20.0) | st.just(math.inf),
    st.sampled_from([0.5, -1.0, math.nan, "2", None, np.array([2.0])]),
)


def _spec_table():
    return {
        "sample_weights": Spec(
            rw.sample_weights,
            {"losses": VEC, "strategy": STRAT, "temperature": TEMPS, "delta": DELTA},
            check_sample_weights,
        ),
        "tempered_softmax": Spec(
            rw.tempered_softmax,
            {"scores": VEC, "temperature": TEMPS},
            lambda res, kw: check_softmax_like(res, kw["scores"], _f(kw["temperature"]), "t"),
        ),
        "dro_kl_weights": Spec(
            rw.dro_kl_weights,
            {"losses": VEC, "temperature": TEMPS},
            lambda res, kw: check_softmax_like(res, kw["losses"], _f(kw["temperature"]), "d"),
        ),
        "normalize_losses": Spec(
            rw.normalize_losses, {"losses": VEC, "delta": DELTA}, check_normalize
        ),
        "kl_capped_weights": Spec(
            rw.kl_capped_weights, {"gaps": GAPS, "temperature": TEMPS, "rho": RHO}, check_kl_capped
        ),
        "kl_capped_weights_bisection": Spec(
            lambda **kw: rw.kl_capped_weights_bisection(**kw),
            {"gaps": GAPS, "temperature": TEMPS, "rho": RHO},
            lambda res, kw: check_kl_capped(res, {**kw, "_bisection": True}),
        ),
        "rho": Spec(
            lambda weights: rw.rho(weights),
            {"weights": (VEC[0].map(_simplex_from), bad_vector())},
            lambda res, kw: (
                abs(_f(res) - len(kw["weights"]) * as_f64(kw["weights"]).max()) <= 1e-3 * _f(res)
            ),
        ),
        "gamma": Spec(
            lambda weights, gaps: rw.gamma(weights, gaps),
            {"weights": (st.just("from_gaps"), bad_vector()), "gaps": GAPS},
            check_gamma,
        ),
        "worst_case_rho": Spec(
            rw.worst_case_rho,
            {"strategy": STRAT, "n": NS, "temperature": TEMPS, "delta": DELTA_CAP},
            lambda res, kw: isinstance(res, float) and 1 <= res <= kw["n"] * (1 + 1e-12),
        ),
        "cap_safe_temperature": Spec(
            rw.cap_safe_temperature,
            {
                "strategy": STRAT,
                "n": NS,
                "rho": (st.floats(1.0, 20.0), RHO[1] | st.just(math.inf)),
                "delta": DELTA_CAP,
            },
            check_cap_safe,
        ),
    }


NS = (st.integers(1, 10**6), st.sampled_from([0, -3, 2.5, "4", None, True, np.array([3])]))


def check_gamma(result, kw):
    w, g = as_f64(kw["weights"]), as_f64(kw["gaps"])
    if g.max() == 0:
        ref = 1.0
    else:
        gs = g / g.max()
        ref = (w * gs).sum() / gs.mean() if gs.mean() > 0 else 1.0
    return abs(_f(result) - ref) <= 1e-3 * max(1.0, abs(ref))


def check_cap_safe(result, kw):
    if not isinstance(result, float) or result < 0 or math.isnan(result):
        return False
    if result in (0.0, math.inf):
        return True
    r_ok = result * (1 + 1e-9)
    rho = _f(kw["rho"])
    return rw.worst_case_rho(kw["strategy"], kw["n"], r_ok, _f(kw["delta"])) <= rho * (1 + 1e-9)


SPECS = _spec_table()


# ------------------------------------------------------------------ schedules
SCHEDULES = {
    "constant_schedule": (rw.constant_schedule, {"value": TEMPS}),
    "warmup_schedule": (
        rw.warmup_schedule,
        {
            "target": TEMPS,
            "warmup_steps": (st.integers(0, 100), st.sampled_from([-1, 2.5, "3", None])),
        },
    ),
    "linear_schedule": (
        rw.linear_schedule,
        {
            "start": TEMPS,
            "end": TEMPS,
            "steps": (st.integers(0, 100), st.sampled_from([-1, 2.5, "3", None])),
        },
    ),
    "cosine_schedule": (
        rw.cosine_schedule,
        {
            "start": TEMPS,
            "end": TEMPS,
            "steps": (st.integers(0, 100), st.sampled_from([-1, 2.5, "3", None])),
        },
    ),
}


def check_schedule(sched, kw, steps):
    values = [sched(k) for k in steps]
    ends = [_f(kw[k]) for k in ("value", "target", "start", "end") if k in kw]
    lo, hi = (
        min(ends + [_f(getattr(sched, "warmup_value", ends[0]))]),
        max(ends + [_f(getattr(sched, "warmup_value", ends[0]))]),
    )
    ok = all(isinstance(v, float) and math.isfinite(v) and v > 0 and lo <= v <= hi for v in values)
    if "start" in kw:
        first = _f(kw["end"]) if kw["steps"] == 0 else _f(kw["start"])
        ok &= sched(0) == first and sched(kw["steps"] + 5) == _f(kw["end"])
    return ok


# ------------------------------------------------------------------ the judge
def judge(fn_name, call, kwargs, bad, check, param_names):
    """Run one call; return ``(outcome, detail)``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = call(**kwargs)
            ok = None if bad else check(result, kwargs)
        except (ValueError, TypeError) as exc:
            msg = str(exc)
            named = [p for p in param_names if re.search(rf"\b{re.escape(p)}\b", msg)]
            if not named:
                return "unnamed_error", f"{type(exc).__name__}: {msg}"
            documented = re.search(DOCUMENTED_REFUSALS.get(fn_name, "^$"), msg)
            if not bad and documented:
                return "documented_refusal", msg
            if bad:
                if not set(named) & set(bad) and not documented:
                    return "unnamed_error", f"names {named}, bad {sorted(bad)}: {msg}"
                return "clean_error", msg
            return "unnamed_error", f"good input rejected: {type(exc).__name__}: {msg}"
        except Exception as exc:  # any exception: what we are counting
            return "crash", f"{type(exc).__name__}: {exc}"
    if caught:
        return "crash", f"warning escaped: {caught[0].category.__name__}: {caught[0].message}"
    if bad:
        return "silent", f"bad input {sorted(bad)} accepted"
    return ("correct", "") if ok else ("silent", f"wrong result {_short(result)}")


def draw_kwargs(data, params):
    """Draw every parameter, good or bad; return (kwargs, set of bad names)."""
    kwargs, bad = {}, set()
    for name, (good, badst) in params.items():
        value, is_bad = data.draw(maybe_bad(good, badst, p_bad=0.15), label=name)
        kwargs[name] = value
        if is_bad:
            bad.add(name)
    return kwargs, bad


def run_function(data, fn_name):
    """Draw and judge one call of a weights-side function."""
    spec = SPECS[fn_name]
    kwargs, bad = draw_kwargs(data, spec.params)
    if fn_name == "gamma" and isinstance(kwargs["weights"], str):
        g = kwargs["gaps"]
        kwargs["weights"] = _simplex_from(g) if not bad & {"gaps"} else np.array([0.5, 0.5])
        if isinstance(g, torch.Tensor) and not isinstance(kwargs["weights"], torch.Tensor):
            kwargs["weights"] = torch.from_numpy(kwargs["weights"])
    return judge(fn_name, spec.call, kwargs, bad, spec.check, list(spec.params))


def run_schedule(data, fn_name):
    cls, params = SCHEDULES[fn_name]
    kwargs, bad = draw_kwargs(data, params)
    steps = data.draw(st.lists(st.integers(0, 300), min_size=1, max_size=5), label="steps")

    def call(**kw):
        return cls(**kw)

    def check(sched, kw):
        return check_schedule(sched, kw, steps)

    return judge(fn_name, call, kwargs, bad, check, list(params))


# ------------------------------------------------------------------ the LM functions
LM_FUNCTIONS = [
    "per_sample_loss",
    "per_sample_loss_from_hidden",
    "reweighted_loss",
    "SampleReweighter",
    "default_chunk_size",
    "gather_losses",
    "kl_capped",
]


def _nll_ref(logits, labels, ignore_index=-100):
    z = logits.detach().to(torch.float64)
    tgt = torch.nn.functional.pad(labels[:, 1:], (0, 1), value=ignore_index)
    mask = tgt != ignore_index
    lse = torch.logsumexp(z, -1)
    picked = z.gather(-1, tgt.clamp(min=0)[..., None])[..., 0]
    nll = torch.where(mask, lse - picked, torch.zeros_like(lse))
    return (nll.sum(1) / mask.sum(1).clamp(min=1)).numpy()


@st.composite
def lm_batch(draw):
    B, T, V = draw(st.integers(1, 3)), draw(st.integers(2, 5)), draw(st.integers(2, 6))
    dtype = draw(st.sampled_from(TORCH_DTYPES))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    logits = (torch.randn(B, T, V, generator=g, dtype=torch.float64) * 3).to(dtype)
    labels = torch.randint(1, V, (B, T), generator=g)
    if draw(st.booleans()):
        logits[..., 0] = -math.inf  # a masked vocabulary entry (never a target)
    if draw(st.booleans()) and T > 2:
        labels[0, -1] = -100  # padding, its logits fully masked
        logits[0, -2] = -math.inf
    logits[:, -1] = logits[:, -1] if draw(st.booleans()) else -math.inf
    return logits, labels


BAD_LM = {
    "logits": [
        lambda: torch.ones(2, 3),
        lambda: torch.ones(2, 3, 4, dtype=torch.int64),
        lambda: np.ones((2, 3, 4)),
        lambda: torch.ones(2, 3, 4).to_sparse(),
        lambda: torch.empty(2, 3, 4, device="meta"),
        lambda: None,
        lambda: torch.full((1, 3, 4), math.nan),
    ],
    "labels": [
        lambda: torch.ones(2, 3),
        lambda: torch.full((1, 3), 99),
        lambda: torch.ones(1, 3, dtype=torch.bool),
        lambda: [[1, 2, 3]],
        lambda: torch.full((1, 3), -100),
    ],
}


def run_lm(data, fn_name):
    logits, labels = data.draw(lm_batch(), label="batch")
    bad = set()
    if data.draw(st.integers(0, 9), label="bad?") < 2:
        which = data.draw(st.sampled_from(sorted(BAD_LM)), label="which")
        value = data.draw(st.sampled_from(BAD_LM[which]), label="bad")()
        if which == "logits":
            logits = value
        else:
            labels = value
        bad.add(which)
    if fn_name == "per_sample_loss":

        def call(logits, labels):
            z = (
                logits.clone().requires_grad_(True)
                if isinstance(logits, torch.Tensor)
                and logits.is_floating_point()
                and logits.layout == torch.strided
                and logits.device.type == "cpu"
                else logits
            )
            out = per_sample_loss(z, labels)
            out.sum().backward()
            return out, z.grad

        def check(res, kw):
            out, grad = res
            tol = 1e-9 if kw["logits"].dtype == torch.float64 else 1e-4
            return bool(torch.isfinite(grad).all()) and np.allclose(
                out.detach().double().numpy(),
                _nll_ref(kw["logits"], kw["labels"]),
                rtol=tol,
                atol=tol,
            )

        return judge(
            fn_name, call, {"logits": logits, "labels": labels}, bad, check, ["logits", "labels"]
        )
    if fn_name == "per_sample_loss_from_hidden":
        d = 3
        g = torch.Generator().manual_seed(1)
        ok_logits = (
            isinstance(logits, torch.Tensor)
            and logits.ndim == 3
            and logits.is_floating_point()
            and logits.layout == torch.strided
            and logits.device.type == "cpu"
        )
        if ok_logits:
            B, T, V = logits.shape
            hidden = torch.randn(B, T, d, generator=g, dtype=torch.float64).to(logits.dtype)
            weight = torch.randn(V, d, generator=g, dtype=torch.float64).to(logits.dtype)
        else:
            hidden, weight = logits, torch.ones(4, 3)

        def call(hidden, weight, labels):
            h = hidden.clone().requires_grad_(True) if ok_logits else hidden
            out = per_sample_loss_from_hidden(h, weight, labels, chunk_size=2)
            out.sum().backward()
            return out, h.grad

        def check(res, kw):
            out, grad = res
            ref = _nll_ref(kw["hidden"].double() @ kw["weight"].double().T, kw["labels"])
            tol = (
                1e-9
                if kw["hidden"].dtype == torch.float64
                else (3e-2 if kw["hidden"].dtype in (torch.float16, torch.bfloat16) else 1e-4)
            )
            return bool(torch.isfinite(grad).all()) and np.allclose(
                out.detach().double().numpy(), ref, rtol=tol, atol=tol
            )

        if "logits" in bad:
            bad = {"hidden"}
        return judge(
            fn_name,
            call,
            {"hidden": hidden, "weight": weight, "labels": labels},
            bad,
            check,
            ["hidden", "weight", "labels"],
        )
    return run_reweight(data, fn_name)


def run_reweight(data, fn_name):
    if fn_name == "default_chunk_size":
        vocab, is_bad = data.draw(
            maybe_bad(st.integers(1, 10**7), st.sampled_from([0, -5, 2.5, "7", None, True])),
            label="vocab",
        )
        return judge(
            fn_name,
            lambda vocab: default_chunk_size(vocab),
            {"vocab": vocab},
            {"vocab"} if is_bad else set(),
            lambda res, kw: isinstance(res, int) and res >= 1,
            ["vocab"],
        )
    losses, lbad = data.draw(
        maybe_bad(
            good_vector(nonneg=True, high_mag=2).map(
                lambda x: (
                    x
                    if isinstance(x, torch.Tensor)
                    else torch.tensor(np.asarray(x, dtype=np.float32))
                )
            ),
            bad_vector(),
        ),
        label="losses",
    )
    if fn_name == "kl_capped":
        return run_kl_capped_strategy(data, losses, lbad)
    if fn_name == "gather_losses":
        return (
            judge(
                fn_name,
                lambda local: gather_losses(local),
                {"local": losses},
                set(),
                lambda res, kw: res[1] == 0 and res[0] is not None,
                ["local"],
            )
            if not lbad
            else ("correct", "skipped")
        )
    strategy, sbad = data.draw(
        maybe_bad(st.sampled_from(list(rw.lm.LM_STRATEGIES)), STRAT[1]), label="strategy"
    )
    temperature, tbad = data.draw(maybe_bad(*TEMPS), label="temperature")
    bad = {
        n for n, b in (("per_sample_losses", lbad), ("strategy", sbad), ("temperature", tbad)) if b
    }

    def check(res, kw):
        loss, w = res
        x = as_f64(kw["per_sample_losses"])
        r = _f(kw["temperature"])
        x32 = x.astype(np.float32).astype(np.float64)
        if kw["strategy"] == "dro_kl":
            ref = softmax_ref(x32, r)
        elif kw["strategy"] == "kl_capped":  # kl_capped(2.0) on the normalised losses + 1
            gaps = np.clip(normalize_ref(x32, 1.0) + 1.0, 0, None)
            return check_kl_capped(
                w, {"gaps": torch.from_numpy(gaps).float(), "temperature": r, "rho": 2.0}
            )
        elif r < 1e-2:
            return _check_simplex(w, 1e-7, len(x))
        else:
            ref = (
                np.full(len(x), 1 / len(x))
                if kw["strategy"] == "uniform"
                else softmax_ref(
                    scores_ref(
                        normalize_ref(x.astype(np.float32).astype(np.float64), 1.0),
                        kw["strategy"],
                        1.0,
                    ),
                    r,
                )
            )
        return (
            _check_simplex(w, 1e-7, len(x)) and _close(w, ref, 1e-4) and math.isfinite(float(loss))
        )

    if fn_name == "reweighted_loss":
        return judge(
            fn_name,
            lambda **kw: reweighted_loss(**kw),
            {"per_sample_losses": losses, "strategy": strategy, "temperature": temperature},
            bad,
            check,
            ["per_sample_losses", "strategy", "temperature"],
        )

    def call(per_sample_losses, strategy, temperature):
        schedule = temperature if tbad else rw.constant_schedule(temperature)
        rw_ = SampleReweighter(strategy, schedule)
        out = rw_(per_sample_losses)
        rw_.load_state_dict(rw_.state_dict())
        return out

    return judge(
        fn_name,
        call,
        {"per_sample_losses": losses, "strategy": strategy, "temperature": temperature},
        bad,
        check,
        ["per_sample_losses", "strategy", "temperature", "value", "step", "state"],
    )


ALL_FUNCTIONS = [*SPECS, *SCHEDULES, *LM_FUNCTIONS]


def run_any(data, fn_name):
    if fn_name in SPECS:
        return run_function(data, fn_name)
    if fn_name in SCHEDULES:
        return run_schedule(data, fn_name)
    return run_lm(data, fn_name)


def run_kl_capped_strategy(data, losses, lbad):
    """``rwtheory.lm.kl_capped(rho)(losses, temperature)``: Proposition 1's weights of the
    normalised losses plus 1 (checked as :func:`check_kl_capped` on those gaps)."""
    from rwtheory.lm import kl_capped

    rho, rbad = data.draw(maybe_bad(*RHO), label="rho")
    temperature, tbad = data.draw(maybe_bad(*TEMPS), label="temperature")
    bad = {n for n, b in (("losses", lbad), ("rho", rbad), ("temperature", tbad)) if b}

    def check(res, kw):
        x = kw["losses"]
        gaps = np.clip(normalize_ref(as_f64(x), 1.0) + 1.0, 0, None)
        return check_kl_capped(
            res,
            {
                "gaps": torch.from_numpy(gaps).float(),
                "temperature": kw["temperature"],
                "rho": kw["rho"],
            },
        )

    return judge(
        "kl_capped",
        lambda losses, rho, temperature: kl_capped(rho)(losses, temperature),
        {"losses": losses, "rho": rho, "temperature": temperature},
        bad,
        check,
        ["losses", "rho", "temperature"],
    )
