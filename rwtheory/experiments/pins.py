"""Pinned SIMD code paths: the same output bytes on every x86-64 CPU.

numpy, OpenBLAS, MKL, oneDNN and torch choose their kernels by CPU, and the kernels round
differently: an AVX-512 ``exp`` or GEMM gives other last bits than the AVX2 one. Most of the
project's outputs do not notice, but chaotic runs (LinUpper at r = 0.1) and the float32 LM
study amplify last bits into printed digits, so the committed figures were found to differ
between an AMD EPYC without AVX-512 and CPUs with it. The workers that compute the outputs
therefore run every library on its AVX2 code path, on any x86-64 CPU that has AVX2:

* numpy: every dispatch target above AVX2 is disabled (``NPY_DISABLE_CPU_FEATURES``). The
  names are read from the installed numpy (:func:`numpy_disabled_targets`): numpy 2.4 calls
  its targets ``X86_V3``, ``X86_V4``, ``AVX512_ICL``, ``AVX512_SPR``; older releases
  ``AVX2``, ``AVX512F``, ``AVX512_SKX``, ...
* OpenBLAS (numpy's and scipy's copies): the Haswell kernels (``OPENBLAS_CORETYPE``);
* MKL (inside torch): its AVX2 path (``MKL_CBWR``); oneDNN: at most AVX2
  (``ONEDNN_MAX_CPU_ISA``); torch's own kernels: AVX2 (``ATEN_CPU_CAPABILITY``).

The variables only act when a process loads its libraries, so they are set for child
processes (:func:`variables`, used by :func:`rwtheory.experiments.pool.process_pool`) and
each worker verifies what is *in effect* before it computes (:func:`require_pinned`):
numpy's dispatched target of every optimised function (``numpy.lib.introspect``), the core
type of every loaded OpenBLAS (``threadpoolctl``) and torch's CPU capability. A worker whose
effective paths are not the pinned ones -- a Dask worker started by hand without the
variables, say -- refuses the task with one line naming what to export
(:func:`export_line`), instead of computing other bytes silently.

Assumptions, named: MKL and oneDNN offer no query of the path in use from Python, so they
are verified by their variables only. A machine that is not x86-64 or has no AVX2 (ARM,
Apple silicon) has no AVX2 path to pin (:func:`pinnable` is False): it computes unpinned,
and ``rwtheory compare`` tells its user how far the results agree with the committed ones.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass

__all__ = [
    "AVX2_TARGETS",
    "Effective",
    "UnpinnedProcess",
    "effective",
    "export_line",
    "numpy_disabled_targets",
    "pin_this_process",
    "pinnable",
    "problems",
    "require_pinned",
    "variables",
]

#: numpy's dispatch targets at or below AVX2 (numpy 2.0-2.3 names the features, numpy 2.4
#: the x86-64 micro-architecture levels: X86_V2 = SSE4.2/POPCNT, X86_V3 = AVX2/FMA3). Every
#: other dispatch target of the installed numpy is disabled in the workers.
AVX2_TARGETS = frozenset(
    {"SSE", "SSE2", "SSE3", "SSSE3", "SSE41", "POPCNT", "SSE42", "AVX", "F16C", "FMA3", "AVX2"}
    | {"X86_V2", "X86_V3"}
)

#: The variables besides numpy's, with the pinned value and what is in effect with it.
_LIBRARY_PINS = {
    "OPENBLAS_CORETYPE": "Haswell",
    "MKL_CBWR": "AVX2",
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
}
_OPENBLAS_CORE = "Haswell"
_TORCH_CAPABILITY = "AVX2"


@functools.cache
def _numpy_cpu() -> tuple[dict[str, bool], tuple[str, ...]]:
    """numpy's own tables of the CPU: (feature -> whether the *hardware* has it, whatever is
    disabled; the compiled dispatch targets, in numpy's order). These are numpy's internal
    tables, the ones ``numpy.show_runtime`` prints; its public ``show_config`` reports the
    targets left enabled, not the hardware. When numpy is not loaded yet, they are read in a
    child interpreter, so that this process can still be pinned before it loads numpy
    (:func:`pin_this_process`); neither depends on the pinning variables."""
    if "numpy" in sys.modules:
        # numpy's private compiled module (no type stub): imported by name, as in the child
        umath = importlib.import_module("numpy._core._multiarray_umath")
        return dict(umath.__cpu_features__), tuple(umath.__cpu_dispatch__)
    code = (
        "import json; from numpy._core import _multiarray_umath as m; "
        "print(json.dumps([m.__cpu_features__, m.__cpu_dispatch__]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    features, dispatch = json.loads(out)
    return features, tuple(dispatch)


def numpy_disabled_targets() -> tuple[str, ...]:
    """The installed numpy's dispatch targets above AVX2, in numpy's order (none where
    there is nothing to pin, :func:`pinnable`)."""
    if not pinnable():
        return ()
    return tuple(t for t in _numpy_cpu()[1] if t not in AVX2_TARGETS)


def variables() -> dict[str, str]:
    """The environment that pins a process started with it (read when it loads numpy,
    OpenBLAS, MKL and torch); empty where there is nothing to pin (:func:`pinnable`)."""
    if not pinnable():
        return {}
    return {"NPY_DISABLE_CPU_FEATURES": " ".join(numpy_disabled_targets()), **_LIBRARY_PINS}


def pin_this_process() -> bool:
    """Pin this process, if it has not loaded numpy or torch yet: set :func:`variables`
    in its environment (inherited by its children). Returns whether the process is pinned
    by it (False: a library was loaded already, or nothing to pin)."""
    if "numpy" in sys.modules or "torch" in sys.modules or not pinnable():
        return False
    os.environ.update(variables())
    return True


def export_line() -> str:
    """A shell line that pins the processes started after it (e.g. ``dask worker``)."""
    return "export " + " ".join(f"{k}='{v}'" for k, v in variables().items())


def pinnable() -> bool:
    """Has this machine an AVX2 path to pin? (x86-64 with AVX2 in hardware; not ARM.)"""
    if platform.machine().lower() not in {"x86_64", "amd64"}:
        return False
    return bool(_numpy_cpu()[0].get("AVX2"))


@dataclass(frozen=True)
class Effective:
    """What is in effect in this process: for every numpy function and signature whose
    dispatched target is not the pinned one, ``(function, signature, current, pinned)``;
    the core types of the loaded OpenBLAS libraries; torch's CPU capability (None when torch
    is not installed); the values of the pinning variables."""

    numpy_off: tuple[tuple[str, str, str, str], ...]
    openblas: tuple[str, ...]
    torch: str | None
    env: tuple[tuple[str, str | None], ...]


def _numpy_off() -> tuple[tuple[str, str, str, str], ...]:
    """numpy's optimised functions whose current target is not the first available target
    that the pins leave enabled (``available`` lists what both the build and the CPU have)."""
    from numpy.lib.introspect import opt_func_info

    disabled = set(numpy_disabled_targets())
    off = []
    for func, signatures in sorted(opt_func_info().items()):
        for sig, info in sorted(signatures.items()):
            allowed = [t for t in info["available"].split() if _target(t) not in disabled]
            expected = allowed[0] if allowed else info["current"]
            if info["current"] != expected:
                off.append((func, sig, info["current"], expected))
    return tuple(off)


def _target(name: str) -> str:
    """``baseline(X86_V2)`` -> ``X86_V2``."""
    return name.removeprefix("baseline(").removesuffix(")")


def _openblas_cores() -> tuple[str, ...]:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # the check extra is absent: judged by the variable alone
        return ()
    return tuple(
        sorted(
            str(i.get("architecture")) for i in threadpool_info() if i["internal_api"] == "openblas"
        )
    )


def _torch_capability() -> str | None:
    if "torch" not in sys.modules and importlib.util.find_spec("torch") is None:
        return None
    import torch

    return torch.backends.cpu.get_cpu_capability()


def effective() -> Effective:
    """Read what is in effect in this process (imports numpy and, if installed, torch)."""
    import numpy  # noqa: F401  (loads numpy's OpenBLAS, so that threadpoolctl sees it)

    try:
        import scipy.linalg  # noqa: F401  (scipy's own OpenBLAS)
    except ImportError:
        pass
    return Effective(
        numpy_off=_numpy_off(),
        openblas=_openblas_cores(),
        torch=_torch_capability(),
        env=tuple((k, os.environ.get(k)) for k in variables()),
    )


def problems(eff: Effective | None = None) -> list[str]:
    """What differs from the pinned paths in this process (empty: pinned, or nothing to pin
    on this machine, :func:`pinnable`)."""
    if not pinnable():
        return []
    eff = eff or effective()
    out = []
    if eff.numpy_off:
        func, sig, current, pinned = eff.numpy_off[0]
        out.append(
            f"numpy dispatches {len(eff.numpy_off)} function(s) above AVX2 "
            f"(e.g. {func}[{sig}] on {current}, pinned: {pinned})"
        )
    wrong_cores = [c for c in eff.openblas if c != _OPENBLAS_CORE]
    if wrong_cores:
        out.append(f"OpenBLAS runs the {', '.join(wrong_cores)} kernels (pinned: {_OPENBLAS_CORE})")
    if eff.torch is not None and eff.torch != _TORCH_CAPABILITY:
        out.append(f"torch runs its {eff.torch} kernels (pinned: {_TORCH_CAPABILITY})")
    wanted = variables()
    unset = [k for k, v in eff.env if v != wanted[k]]
    if unset:
        out.append(f"{', '.join(unset)} not set to the pinned value")
    return out


class UnpinnedProcess(RuntimeError):
    """A process asked to compute the project's outputs runs unpinned SIMD code paths."""


@functools.cache
def require_pinned() -> None:
    """Raise :class:`UnpinnedProcess` (one line: what is wrong, what to export) unless this
    process runs the pinned code paths; checked once per process."""
    found = problems()
    if found:
        raise UnpinnedProcess(
            f"this process computes with unpinned CPU code paths ({'; '.join(found)}), so its "
            f"numbers could differ in their last bits from every other machine's; start it "
            f"with the pins: {export_line()}"
        )
