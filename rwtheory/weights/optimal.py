r"""Proposition 1's optimal KL-regularised capped weights, and the DRO-KL baseline
(docs/theory.md §5).

The problem, for loss gaps :math:`\Delta \in \mathbb R^n_{\ge 0}`, temperature r > 0 and cap
:math:`\rho \ge 1`:

.. math::
    \min_{w}\; -\sum_i w_i\Delta_i + r\sum_i w_i\log(n w_i)
    \quad\text{s.t.}\quad \sum_i w_i = 1,\; 0 \le w_i \le \rho/n .

KKT gives :math:`w_i^\star = \min(e^{\Delta_i/r}/Z,\ \rho/n)` with Z fixed by
:math:`\sum_i w_i^\star = 1` (water-filling). :func:`kl_capped_weights` computes it exactly
(no iteration). It is the runtime solver; the independent reference solvers it is checked
against (bisection, a KKT certificate, cvxpy) live in :mod:`rwtheory.theory.reference_solvers`.
"""

from __future__ import annotations

import functools
import math
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeAlias, overload

import numpy as np
from array_api_compat import device as _device
from numpy.typing import NDArray

from rwtheory._array import (
    Array,
    InputValueError,
    as_float_array,
    check_positive_finite,
    check_real,
    numpy_view,
    widen_for,
)
from rwtheory.weights.pipeline import (
    DType,
    FloatArray,
    NumpyLike,
    batched_tempered_softmax,
)

if TYPE_CHECKING:  # torch is the extra `lm`: imported where a tensor is handled
    import torch

# the public names, one a line as ruff formats a long list (every module's header has this
# shape: the lazy torch import above, then __all__)
__all__ = [
    "batched_dro_kl_weights",
    "batched_kl_capped_weights",
    "check_gaps",
    "check_rho",
    "dro_kl_weights",
    "kl_capped_weights",
]


def check_rho(rho: Any) -> float:
    """The cap factor as a float; ValueError unless it is a real number >= 1 (inf: no cap)."""
    # Mutants of the name "rho" are killed by tests/weights/test_validation.py::test_rho_of_
    # the_wrong_type_is_named (by hand, MUTANT_UNDER_TEST; written after mutmut's run).
    v = check_real(rho, "rho")
    if math.isnan(v) or v < 1:
        raise InputValueError(f"rho must be >= 1 (math.inf: no cap), got {v!r}")
    return v


def check_gaps(gaps: Any, ndim: int | None) -> tuple[ModuleType, Array]:
    """``(namespace, float array)`` of loss gaps; ValueError naming the offending entry unless
    every gap is finite and >= 0 (``ndim``: required rank, None for any)."""
    # `< max` for `<= max` is killed by test_the_largest_finite_gap_is_accepted (by hand).
    # Surviving mutants, argued equivalent: finite=True / None / default here only moves the
    # NaN/inf check (the same as_float_array call below raises the same error, naming the
    # index); finfo(None).max (float64's) for float32 rows: finite float32 values are below
    # it and inf above, as with float32's; ndim=None below: the rank was checked here already.
    xp, g = as_float_array(gaps, "gaps", ndim=ndim, finite=False)
    # one pass for the common case: NaN fails both comparisons, +-inf one of them
    if not bool(xp.all((g >= 0) & (g <= xp.finfo(g.dtype).max))):
        as_float_array(g, "gaps", ndim=ndim)  # raises on NaN/inf, naming the index
        raise InputValueError(
            f"gaps must be >= 0 (loss gaps f_i(x) - f_i(x*)), got minimum {float(xp.min(g))}"
        )
    return xp, g


# ----------------------------------------------------------------- water-filling core
#
# Notation: one row of gaps g (the last axis), cap c = rho/n, e_i = exp((g_i - max g)/r).
# The solution caps every e_i >= theta* (theta* = c Z*, Z* the normaliser) and gives the
# others e_i/Z*, so that w = min(e/Z*, c) with sum(w) = 1. Sorting e in decreasing order,
# position p holds the head (the largest uncapped entry) iff p is the first position whose
# share of the mass left after capping positions < p respects the cap:
#
#     (1 - p c) * e_p / sum_{j >= p} e_j  <=  c.                                  (*)
#
# (*) is monotone in p (if it holds at p it holds at p + 1), so the head's position is a
# count; in exact arithmetic it holds at p_max, the last p with 1 - p c > 0 (the share is
# <= 1 and 1 - p_max c <= c), so the head is never later than p_max, which is enforced.
# Then 1/Z* = (1 - k c) / (sum of the uncapped e), k the number capped.
#
# * Short rows, and batches of rows: sort e, suffix sums by a cumulative sum, count (*).
# * Long 1-D rows (n >= BRACKET_MIN_N): sorting 65536 floats costs as much as ~25 passes
#   over them, so (*) is first solved on a sorted strided sample to estimate theta*; two
#   sample values around the estimate are then certified as lower and upper bounds by the
#   exact test "theta <= theta* iff capping at theta leaves enough mass,
#   c * sum_i min(e_i/theta, 1) >= 1", and only the entries between them are sorted. The
#   counts and sums outside the bracket enter (*) as constants. A bracket that fails its
#   test is widened; as a last resort the whole row is sorted.
# * Huge scaled spreads ((max g - min g)/r > ~700; float32: 80): e would underflow and,
#   worse, (g - max g)/r rounds away the differences between small gaps (with a gap of 1e300
#   at r = 1, every gap below ~1e284 would look equal). The suffix sums are then taken
#   relative to each position, S_p = sum_{j>=p} exp((g_j - g_p)/r) = 1 + a_p S_{p+1},
#   a_p = exp((g_{p+1} - g_p)/r) in [0, 1], by a log-depth doubling scan: no overflow, no
#   cancellation; the weights are then spread relative to the head's own gap.

#: Where an array lives, as array_api_compat's ``device`` gives it: ``"cpu"`` for numpy, a
#: torch device for tensors; None where the caller is numpy only (no device argument).
Device: TypeAlias = "torch.device | str | None"

#: Rows at least this long (1-D input) use the sampled bracket instead of a full sort.
BRACKET_MIN_N = 4096
#: Size of the strided sample that estimates the capping threshold of a long row.
BRACKET_SAMPLE = 512
#: The bracket stages stop once this few candidates remain; they are sorted.
BRACKET_FINISH = 512


def _linear_span(dtype: DType, xp: ModuleType) -> float:
    """Largest scaled spread whose exponentials stay normal floats (700 in float64, 80 in
    float32)."""
    # Surviving mutants: a smaller span (0.99 / ..., +log) sends more rows to the relative
    # path, which is exact at every spread -- same weights up to rounding, slower. finfo(None)
    # (float64's span for float32 rows) survives too: float32 e may then be subnormal on the
    # linear path, but those weights are subnormal on the relative path as well; not killed.
    return 0.99 * -math.log(float(xp.finfo(dtype).smallest_normal))


def _p_max(n: int, cap: float) -> int:
    """Last position p (0-based, at most n - 1) with 1 - p*cap > 0 in floating point.

    The start p0 = ceil(fl(1/cap)) - 1 is never too high: fl(p0*cap) < 1 for every cap in
    (0, 1) with p0 < 2**53 (so for any row that fits in memory). Proof: if fl(1/cap) = m is
    an integer, p0 = m - 1 and 1/cap >= m - 1/2, so p0*cap <= 1 - 1/(2m - 1) < 1 - 2**-54;
    otherwise p0 = floor(m) < m, so m >= p0 + ulp(p0) and 1/cap >= p0 + ulp(p0)/2, whence
    p0*cap <= 1 - u/(2 + u) with u = ulp(p0)/p0 >= 2**-53/(1 - 2**-53) (an integer p0 <
    2**53 lies at least one ulp below the top of its binade), again < 1 - 2**-54; below
    that, p0*cap rounds to at most 1 - 2**-53.
    p = min(n - 1, p0) <= p0 keeps it (rounding is monotone). The start can be too low,
    when fl(1/cap) rounds below a whole number the exact test still passes (n = 6,
    rho = 1.2: cap = 0.19999999999999998, fl(1/cap) = 5.0, p0 = 4 but 1 - 5*cap > 0): the
    loop climbs (tests/weights/test_optimal.py::test_p_max_is_its_definition)."""
    # Mutation testing (benchmarks/mutation.py): a lower start (mutants of the first line)
    # only adds iterations: the loop climbs from any start <= the answer (n - 1 is never the
    # smaller term when it would be too high: ceil(n/rho) <= n). A loop that lowered a start
    # too high (the guard of earlier versions) never ran, by the proof above: removed.
    # Equivalent: `p - 1 < n`, `p + 1 <= n`: at p + 1 = n the second test reads
    # 1 - n*cap = 1 - rho (rounded) <= 0 for rho > 1, so the first conjunct never decides.
    # `p = 1` and `p -= 1` in the loop never end (timeouts).
    p = min(n - 1, math.ceil(1 / cap) - 1)
    while p + 1 < n and 1 - (p + 1) * cap > 0:
        p += 1
    return p


def _count_head(
    ea: Array,
    pre: Array,
    offset: int,
    lump: float,
    cap: float,
    p_max: int,
    xp: ModuleType,
    mult: int = 1,
) -> tuple[Array, Array] | None:
    """Rows of ``ea`` sorted *ascending* with prefix sums ``pre``; ``offset`` entries larger
    than all of them are capped and ``lump`` is the sum of the entries smaller than all of
    them; each entry of ``ea`` stands for ``mult`` entries of the row (a strided sample).
    Returns the ascending index q of the head per row (keepdims) and whether (*) held
    anywhere in the block (if not, every entry of the block is capped); None when no entry
    of the block sits at a position <= p_max (then every entry is capped too)."""
    m = ea.shape[-1]
    # ascending index q sits at descending position offset + mult*(m - 1 - q) <= p_max
    # Surviving mutants (benchmarks/mutation.py), argued equivalent:
    # * a lower q0 (m - 2 ..., p_max + offset) adds positions past p_max, whose limit is
    #   infinite: they always pass, count grows by as many, q is unchanged; `q0 > m`: at q0 = m
    #   the slice is empty, count = 0 and found is False, which callers treat as None;
    # * `<` for `<=`: (*) with equality puts the entry exactly at theta*, where capped or
    #   free it gets the cap -- same weights (rounding aside);
    # * mult != 1 only for the bracket's sample (rhs mutants `mult == 2`, `mult / pre`,
    #   `and False` -> 1 * pre, exact): the sample only proposes a bracket, which the exact
    #   mass test certifies (test_the_bracket_is_exact_whatever_its_sample_size);
    # * ea.dtype -> None: float64 limits for float32 rows, a rounding-level change;
    #   _device(ea) -> None: numpy has one device (CUDA only, test_backends.py);
    # * clip(min=None) / no min, found `count >= 0`: differ only when count = 0, i.e. (*)
    #   failing at every position up to p_max, where it holds in exact arithmetic (limit >= 1,
    #   prefix sum >= entry); not observed (bracket's else branch below: same).
    q0 = max(0, m - 1 - (p_max - offset) // mult)
    if q0 >= m:
        return None
    # (*) as  e_q <= c / (1 - c * position_q) * (mult * pre_q + lump)
    limit = _limit(m, q0, offset, mult, cap, ea.dtype, xp, _device(ea))
    rhs = pre[..., q0:] if mult == 1 else mult * pre[..., q0:]
    if lump:
        rhs = rhs + lump
    count = xp.count_nonzero(ea[..., q0:] <= limit * rhs, axis=-1, keepdims=True)
    return q0 + xp.clip(count - 1, min=0), count > 0


@functools.lru_cache(maxsize=64)
def _limit_numpy(
    m: int, q0: int, offset: int, mult: int, cap: float, dtype: np.dtype[Any]
) -> NDArray[np.floating[Any]]:
    limit = _limit_values(m, q0, offset, mult, cap, dtype, np, None)
    limit.flags.writeable = False
    return limit


def _limit_values(
    m: int,
    q0: int,
    offset: int,
    mult: int,
    cap: float,
    dtype: DType,
    xp: ModuleType,
    device: Device,
) -> Array:
    # positions are whole numbers, so 1 - cap * position rounds exactly as _p_max's test;
    # a position with no mass left (never the head) gets an infinite limit
    # Mutants equivalent up to rounding: dtype=None gives integer positions, so 1 - cap*pos
    # is formed in float64 (identical for float64 rows; float32 rows round once less, which
    # moves the count only when (*) holds within float32 rounding -- an entry then at
    # theta* gets the cap either way). device=None: numpy has one device; only CUDA tensors
    # reach here with another (tests/weights/test_backends.py, skipped without a GPU).
    pos = offset + mult * (m - 1 - xp.arange(q0, m, dtype=dtype, device=device))
    left = 1 - cap * pos
    # Equivalent mutants: the callers start at q0 with position(q0) <= p_max, so left > 0 on
    # every position asked for; the guard's `> 0`, its placeholder 1.0 and its fill value
    # math.inf are never selected (mutants `>= 0`, 2.0, None survive for that reason).
    positive = left > 0
    return xp.where(positive, cap / xp.where(positive, left, 1.0), math.inf)


# _limit_values' parameters, which it passes on (numpy's values cached): the same list by design
def _limit(
    m: int,
    q0: int,
    offset: int,
    mult: int,
    cap: float,
    dtype: DType,
    xp: ModuleType,
    device: Device,
) -> Array:
    """c / (1 - c * position) for the ascending indices q0 .. m-1 (cached for numpy)."""
    # Mutants of this branch survive on CPU: only CUDA tensors reach the non-numpy path (CPU
    # torch goes through numpy_view), tested by tests/weights/test_backends.py with a GPU.
    if xp is np:
        return _limit_numpy(m, q0, offset, mult, cap, dtype)
    return _limit_values(m, q0, offset, mult, cap, dtype, xp, device)


def _sorted_spread(e: Array, cap: float, p_max: int, xp: ModuleType) -> Array:
    """Weights for short rows or batches: sort whole rows."""
    n = e.shape[-1]
    # Surviving mutants, argued equivalent: sort()/take_along_axis() without axis (the
    # default is the last axis); q0 one lower (n - 2 - p_max: one position past p_max, whose
    # infinite limit always passes, so q0 + count - 1 is unchanged); `<` for `<=` (entry at
    # theta*: the cap either way); lump None for 0.0 (both falsy: `if lump:`); dtype None in
    # _limit / astype(k, None) (float64 arithmetic for float32 rows: rounding); device None
    # (CUDA only, test_backends.py).
    ea = xp.sort(e, axis=-1)
    pre = xp.cumulative_sum(ea, axis=-1)
    if e.ndim == 1:  # Python scalars: a few microseconds less per call
        q0 = max(0, n - 1 - p_max)
        count = int(
            xp.count_nonzero(
                ea[q0:] <= _limit(n, q0, 0, 1, cap, e.dtype, xp, _device(e)) * pre[q0:]
            )
        )
        q = q0 + max(count - 1, 0)  # (*) holds at p_max at the latest
        # Capped: every entry above the head (ties with it stay free). The normaliser is a
        # pairwise sum: the cumulative sum's rounding grows with n.
        free_mask = ea <= ea[q]
        free = float(xp.sum(xp.where(free_mask, ea, 0.0)))  # the batched path's very sum
        e *= (1 - (n - int(xp.count_nonzero(free_mask))) * cap) / free  # e is ours
        return xp.minimum(e, cap)
    head_count = _count_head(ea, pre, 0, 0.0, cap, p_max, xp)
    assert head_count is not None  # q0 = max(0, n - 1 - p_max) < n: never an empty block
    q = head_count[0]
    head = xp.take_along_axis(ea, q, axis=-1)
    free_mask = ea <= head  # as above, row by row
    k = n - xp.count_nonzero(free_mask, axis=-1, keepdims=True)
    free = xp.sum(xp.where(free_mask, ea, 0.0), axis=-1, keepdims=True)
    e *= (1 - xp.astype(k, e.dtype) * cap) / free  # e is ours (see _kl_capped)
    return xp.minimum(e, cap)


def _bracketed_spread(e: Array, cap: float, p_max: int, xp: ModuleType) -> Array:
    """Weights for one long row (see the notes above).

    Invariant: every entry is either a candidate, or known to be capped (``n_above`` of
    them, all larger than every candidate), or known to be free (sum ``s_below``, count
    ``n_below``, all smaller than every candidate). Each stage sorts a strided sample of the
    candidates, solves (*) on it, and certifies two sample values around the estimate with
    the exact test c * (#(e >= theta) + sum_{e < theta} e / theta) >= 1 iff theta <= theta*;
    the candidates outside the certified bracket are then settled. Stages shrink the
    candidates ~8x each until few enough remain to sort."""
    n = e.shape[0]
    # Surviving mutants (benchmarks/mutation.py), argued by family. Correctness rests on the
    # exact mass test alone (lo_ok, hi_ok); everything else only decides how much is sorted:
    # * early exit (`<`, `cap / total`): the general path returns the same softmax (k = 0),
    #   up to the order of summation;
    # * sizes and the estimate: the loop bound (`>=`, `4 / F`, `5 * F`), stride `max(2, ..)`
    #   (size > 4 F gives size // SAMPLE >= 2 already), half's constants, `range(4)`,
    #   `half *= 5`, and the estimate q_hat (its conditions, lump None, mult dropped): they
    #   move the proposed bracket, which is then certified, widened or given up on;
    # * lo / hi choice (`and False` -> +-inf, `>= 0`, `> 1`, +inf, sample[q_hat - half] for
    #   hi): another proposed bracket, certified the same way;
    # * stricter certificates (lo_ok / hi_ok None or `and`, `/` for `*`, a sign flip that
    #   lowers the mass, `* lo` (lo <= 1), `> 1`, `>= 2`, n_below starting at 1, lo == +inf,
    #   a larger sum_not_above (where(None, ..), 1.0 for the entries above)): a right
    #   bracket rejected -> widened or the rest sorted: same weights, slower;
    # * ties: `cand <= lo`, `cand > hi`, hi_ok `<= 1`: an entry equal to theta* gets the cap
    #   either way, and in the test an entry equal to theta counts 1 = theta/theta either as
    #   capped or as free;
    # * settled: initial None/True (the third attempt's half, 16x the first, covers the whole
    #   sample: lo = -inf, hi = inf always pass, so settled is always assigned), `k_above -
    #   k_below > 0`, `> 1`, None (a split not used: the rest is sorted);
    # Killed: the loosened certificates, by test_a_misleading_sample_cannot_certify_a_wrong_
    # bracket and test_the_bracket_is_exact_whatever_its_sample_size; a looser lo test
    # (k_below counted as 0, n + n_below, n_below = / -= k_below in the bookkeeping), by
    # test_a_lower_end_above_the_threshold_is_rejected, whose sample sees only high gaps
    # (tests/weights/test_optimal.py). The last step is _finish, tested directly.
    total = float(xp.sum(e))
    if float(xp.max(e)) <= cap * total:  # softmax already respects the cap
        e /= total
        return e
    cand, n_above, n_below, s_below = e, 0, 0, 0.0
    while cand.shape[0] > 4 * BRACKET_FINISH:
        size = cand.shape[0]
        stride = max(1, size // BRACKET_SAMPLE)
        sample = xp.sort(cand[::stride])
        s = sample.shape[0]
        head_count = _count_head(
            sample, xp.cumulative_sum(sample), n_above, s_below, cap, p_max, xp, mult=stride
        )
        q_hat = int(head_count[0][0]) if head_count is not None and bool(head_count[1][0]) else 0
        half = 3 * max(2, int(math.sqrt(s)) // 2)
        settled = False
        for _ in range(3):
            lo = float(sample[q_hat - half]) if q_hat - half > 0 else -math.inf
            hi = float(sample[q_hat + half]) if q_hat + half < s else math.inf
            below, above = cand < lo, cand >= hi  # bool masks: small temporaries
            k_above, k_below = int(xp.count_nonzero(above)), int(xp.count_nonzero(below))
            sum_below = float(xp.sum(xp.where(below, cand, 0.0)))
            # summed directly, not as (sum of candidates) - (sum above hi): when the capped
            # entries dominate, that difference cancels to noise far larger than the free
            # mass (it certified an hi below theta*: weights summing to 1 - 2e-6)
            sum_not_above = float(xp.sum(xp.where(above, 0.0, cand)))
            # lo <= theta*: capping at lo leaves at least the mass 1
            lo_ok = (
                lo == -math.inf or cap * (n - n_below - k_below + (s_below + sum_below) / lo) >= 1
            )
            # hi > theta*: capping at hi leaves less than the mass 1
            hi_ok = hi == math.inf or cap * (n_above + k_above + (s_below + sum_not_above) / hi) < 1
            if lo_ok and hi_ok:
                settled = k_above + k_below > 0
                break
            half *= 4
        if not settled:
            break  # the sample cannot split the candidates: sort what is left
        n_above += k_above
        n_below += k_below
        s_below += sum_below
        cand = cand[~(below | above)]
    return _finish(e, xp.sort(cand), n_above, s_below, cap, p_max, xp)


def _finish(
    e: Array, ea: Array, n_above: int, s_below: float, cap: float, p_max: int, xp: ModuleType
) -> Array:
    """The weights of a long row ``e`` from its last candidates ``ea`` (sorted ascending):
    the ``n_above`` entries above them are capped, the entries below them (sum ``s_below``)
    are free. The head is the last candidate at which (*) holds; where it holds at none,
    every candidate is capped and the head is the largest entry already settled free (the
    bracket leaves that state only when its lower end sits at theta* itself, a tie that
    rounding can tip; tests/weights/test_optimal.py::test_finish_with_every_candidate_capped
    gives the state directly)."""
    pre = xp.cumulative_sum(ea)
    head_count = _count_head(ea, pre, n_above, s_below, cap, p_max, xp)
    m = ea.shape[0]
    if head_count is not None and bool(head_count[1][0]):
        q = int(head_count[0][0])
        k, free = n_above + (m - 1 - q), float(xp.sum(ea[: q + 1])) + s_below  # pairwise
    else:  # everything left is capped: the head is the largest entry already settled free
        k, free = n_above + m, s_below
    e *= (1 - k * cap) / free  # e is ours (see _kl_capped): reuse its memory
    return xp.minimum(e, cap)


def _relative_suffix_sums(gs: Array, temperature: float, xp: ModuleType) -> Array:
    """S_p = sum_{j>=p} exp((gs_j - gs_p)/r) per row (rows sorted in decreasing order), by a
    doubling scan of x_p = 1 + a_p x_{p+1}: ceil(log2 m) steps, every number in [0, m]."""
    m = gs.shape[-1]
    a = xp.exp((gs[..., 1:] - gs[..., :-1]) / temperature)  # in [0, 1]; -inf -> 0
    A = xp.concat([a, xp.zeros_like(gs[..., :1])], axis=-1)
    B = xp.ones_like(gs)
    s = 1
    # `s <= m` (mutant) adds a step with an all-zero tail: B + A*0 = B, A finite -- equivalent
    while s < m:
        tail = xp.zeros_like(gs[..., :s])
        B = B + A * xp.concat([B[..., s:], tail], axis=-1)
        A = A * xp.concat([A[..., s:], tail], axis=-1)
        s *= 2
    return B


def _relative_spread(g: Array, temperature: float, cap: float, p_max: int, xp: ModuleType) -> Array:
    """Weights for rows with a huge scaled spread, every quantity relative to the position
    it concerns (see the notes above)."""
    # Surviving mutants, argued equivalent: sort()/take_along_axis() without axis (default:
    # last axis); arange's dtype None (integer p: float64 arithmetic for float32 rows,
    # rounding); device None (CUDA only, test_backends.py); `<` for `<=` (entry at theta*:
    # the cap either way); where(None, cap, ...) (capped entries have e/Z* >= cap, so the
    # final minimum gives them the cap anyway, rounding aside).
    gs = xp.flip(xp.sort(g, axis=-1), axis=-1)  # decreasing
    share = 1 / _relative_suffix_sums(gs, temperature, xp)
    # (*) over descending positions p <= p_max; monotone, so the head is a count away
    p = xp.arange(p_max + 1, dtype=g.dtype, device=_device(g))
    ok = (1 - p * cap) * share[..., : p_max + 1] <= cap
    fails = xp.sum(xp.astype(~ok, xp.int64), axis=-1, keepdims=True)
    head = xp.take_along_axis(gs, xp.clip(fails, max=p_max), axis=-1)
    capped = g > head
    rel = xp.exp((g - head) / temperature)  # > 1 (or inf) exactly on the capped entries
    free = xp.sum(xp.where(capped, xp.zeros_like(g), rel), axis=-1, keepdims=True)
    k = xp.sum(xp.astype(capped, g.dtype), axis=-1, keepdims=True)
    w = xp.where(capped, xp.full_like(g, cap), rel * ((1 - k * cap) / free))
    return xp.minimum(w, cap)


# Mutation notes (benchmarks/mutation.py) of _kl_capped: `rho > n` survives, equivalent: at
# rho = n the cap is 1, p_max = 0 and the general path returns the same softmax (k = 0) up to
# the order of summation. `>=` at the underflow guard, `exp(+span)` (every row to the
# relative path) and `n > BRACKET_MIN_N` (a row of exactly 4096 sorted whole) choose between
# exact paths: same weights up to rounding, slower. The widening line is killed by
# test_a_temperature_below_float32_is_widened, errstate's `under` by
# test_underflow_is_not_an_error_even_where_numpy_raises (tests/weights/test_optimal.py).
def _kl_capped(g: Array, temperature: float, rho: float, xp: ModuleType) -> Array:
    """Batched core along the last axis (validated inputs). Overflow of scaled gaps to
    -inf is intended (exp gives the right limit 0), so numpy's warning is silenced here.
    A temperature that is not a normal number of the gaps' dtype (1e-50 in float32) moves
    the computation to float64 (:func:`rwtheory._array.widen_for`)."""
    wide, back = widen_for(g, xp, temperature)
    if wide is not g:
        return back(_kl_capped(wide, temperature, rho, xp))
    n = g.shape[-1]
    if rho >= n:  # cap >= 1 never binds
        return batched_tempered_softmax(g, temperature)
    if rho == 1:  # the cap forces every weight to 1/n
        return xp.ones_like(g) / n
    cap = rho / n
    p_max = _p_max(n, cap)
    with np.errstate(over="ignore", under="ignore"):
        # Fresh full-size temporaries are expensive on large rows (each one page-faults
        # anew once the allocator has returned freed blocks to the OS), so e is built
        # with in-place steps and later overwritten with the weights.
        e = g - xp.max(g, axis=-1, keepdims=True)
        e /= temperature
        e = xp.exp(e)
        if float(xp.min(e)) > math.exp(-_linear_span(g.dtype, xp)):  # no e near underflow
            if g.ndim == 1 and n >= BRACKET_MIN_N:
                return _bracketed_spread(e, cap, p_max, xp)
            return _sorted_spread(e, cap, p_max, xp)
        return _relative_spread(g, temperature, cap, p_max, xp)


# ----------------------------------------------------------------- public API
@overload
def kl_capped_weights(gaps: torch.Tensor, temperature: float, rho: float = ...) -> torch.Tensor: ...


@overload
def kl_capped_weights(gaps: NumpyLike, temperature: float, rho: float = ...) -> FloatArray: ...


def kl_capped_weights(gaps: Array, temperature: float, rho: float = 2.0) -> Array:
    r"""Proposition 1's exact minimiser: :math:`w_i = \min(e^{\Delta_i/r}/Z, \rho/n)`.

    Computed exactly by water-filling (the notes above the code have the details): with
    :math:`e_i = e^{(\Delta_i - \max\Delta)/r}`, the capped entries are the top k, k the
    first position of the sorted e at which the next entry's share of the mass left after
    capping the top k respects the cap (a monotone condition, so k is a count); the rest get
    :math:`e_i/Z^*`. Short rows (and batches) sort everything; long rows sort only the
    candidates inside a threshold bracket that a sorted sample proposes and an exact mass
    test certifies; when the scaled spread exceeds ~700 (e would underflow, and
    :math:`(\Delta - \max\Delta)/r` would round away the differences between small gaps)
    the shares are computed relative to each position by a doubling scan. No iteration to a
    tolerance.

    Guarantees (tested): the weights sum to 1 within 1e-12 in float64 (pairwise sums;
    ~1e-6 in float32), no weight exceeds :math:`\rho/n`, ties get equal weights, and the
    result satisfies a KKT certificate for gaps spanning 1e-300 ... 1e300 and temperatures
    from 1e-8 to 1e8.

    Limits: :math:`r \to \infty` uniform; :math:`r \to 0` the LP solution (:math:`\rho/n` on the
    top :math:`\lfloor n/\rho\rfloor` gaps, the remainder on the next one); :math:`\rho = 1`
    uniform; :math:`\rho \ge n` (or ``math.inf``) no cap, i.e. DRO-KL on the gaps.

    Parameters
    ----------
    gaps : 1-D array of loss gaps :math:`\Delta_i \ge 0` (numpy or torch).
    temperature : r > 0, finite (the KL regularisation strength).
    rho : the cap factor, >= 1 (paper: 2).

    Returns the weights as the same kind of array, on the same device. They carry no
    autograd history: like the paper's weights they are constants of the step. CPU torch
    tensors are computed through a zero-copy numpy view (torch's per-operation dispatch cost
    dominates at these sizes); CUDA tensors stay in torch.
    """
    r = check_positive_finite(temperature, "temperature")
    rho = check_rho(rho)
    host, back = numpy_view(gaps)
    xp, g = check_gaps(host, 1)
    return back(_kl_capped(g, r, rho, xp))


@overload
def batched_kl_capped_weights(
    gaps: torch.Tensor, temperature: float, rho: float = ...
) -> torch.Tensor: ...


@overload
def batched_kl_capped_weights(
    gaps: NumpyLike, temperature: float, rho: float = ...
) -> FloatArray: ...


def batched_kl_capped_weights(gaps: Array, temperature: float, rho: float = 2.0) -> Array:
    """:func:`kl_capped_weights` applied to every row (last axis) of ``gaps``."""
    # Mutants of the name "temperature" here are killed by tests/weights/test_validation.py::
    # test_bad_temperature_is_refused_by_every_entry_point.
    r = check_positive_finite(temperature, "temperature")
    rho = check_rho(rho)
    host, back = numpy_view(gaps)
    xp, g = check_gaps(host, None)
    return back(_kl_capped(g, r, rho, xp))


@overload
def dro_kl_weights(losses: torch.Tensor, temperature: float) -> torch.Tensor: ...


@overload
def dro_kl_weights(losses: NumpyLike, temperature: float) -> FloatArray: ...


def dro_kl_weights(losses: Array, temperature: float) -> Array:
    r"""The uncapped DRO-KL baseline: :math:`w = \operatorname{softmax}(l/\tau)` on *raw* losses.

    It is the maximiser of :math:`\sum_i w_i l_i - \tau\,\mathrm{KL}(w\,\|\,\text{uniform})` over
    the simplex (Proposition 1 with no cap); the paper's Table 12 uses
    :math:`\tau \in \{0.4, 1, 2, 5, 10\}`. No normalisation: scaling the losses sharpens it.
    """
    r = check_positive_finite(temperature, "temperature")
    _, x = as_float_array(losses, "losses")
    return batched_tempered_softmax(x, r)


@overload
def batched_dro_kl_weights(losses: torch.Tensor, temperature: float) -> torch.Tensor: ...


@overload
def batched_dro_kl_weights(losses: NumpyLike, temperature: float) -> FloatArray: ...


def batched_dro_kl_weights(losses: Array, temperature: float) -> Array:
    """:func:`dro_kl_weights` applied to every row (last axis) of ``losses``."""
    r = check_positive_finite(temperature, "temperature")
    _, x = as_float_array(losses, "losses", ndim=None)
    return batched_tempered_softmax(x, r)
