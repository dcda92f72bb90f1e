"""The CPU pins: derived from the installed numpy, verified on the effective code paths (never
the hardware), refused with one line naming what to export; the same on any CPU."""

import os
import subprocess
import sys
import textwrap

import pytest

from rwtheory.experiments import pins


def _child(code: str, env: dict) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter with exactly the environment ``env``."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _unpinned_environment() -> dict:
    return {k: v for k, v in os.environ.items() if k not in pins.variables()}


def test_the_test_process_computes_on_the_pinned_paths():
    """conftest pins this process before numpy is loaded, so that tests comparing this
    process with the pool's workers (test_job.py) hold on any CPU."""
    assert pins.problems() == []
    assert pins.effective().numpy_off == ()


@pytest.mark.parametrize(
    ("dispatch", "disabled"),
    [
        # numpy 2.4 names micro-architecture levels
        (("X86_V3", "X86_V4", "AVX512_ICL", "AVX512_SPR"), ("X86_V4", "AVX512_ICL", "AVX512_SPR")),
        # numpy 2.0-2.3 names features
        (
            ("SSSE3", "SSE41", "POPCNT", "SSE42", "AVX", "F16C", "FMA3", "AVX2", "AVX512F")
            + ("AVX512CD", "AVX512_KNL", "AVX512_SKX", "AVX512_ICL", "AVX512_SPR"),
            ("AVX512F", "AVX512CD", "AVX512_KNL", "AVX512_SKX", "AVX512_ICL", "AVX512_SPR"),
        ),
        # a future target above AVX2 is disabled without a code change
        (("X86_V3", "X86_V4", "AVX10_2"), ("X86_V4", "AVX10_2")),
    ],
)
def test_disabled_targets_are_every_dispatch_target_of_the_installed_numpy_above_avx2(
    monkeypatch, dispatch, disabled
):
    monkeypatch.setattr(pins, "_numpy_cpu", lambda: ({"AVX2": True}, dispatch))
    monkeypatch.setattr(pins.platform, "machine", lambda: "x86_64")
    assert pins.numpy_disabled_targets() == disabled
    assert pins.variables()["NPY_DISABLE_CPU_FEATURES"] == " ".join(disabled)


def test_the_installed_numpys_own_names_are_used():
    from numpy._core import _multiarray_umath as m

    if not pins.pinnable():
        assert pins.variables() == {}
        return
    assert set(pins.numpy_disabled_targets()) == set(m.__cpu_dispatch__) - pins.AVX2_TARGETS
    assert set(pins.numpy_disabled_targets()) <= set(m.__cpu_dispatch__)


def test_a_machine_without_avx2_has_nothing_to_pin(monkeypatch):
    monkeypatch.setattr(pins.platform, "machine", lambda: "aarch64")
    assert not pins.pinnable() and pins.variables() == {} and pins.problems() == []


def test_a_process_started_without_the_pins_is_refused_with_what_to_export():
    """A worker started by hand (a Dask worker, say) without the variables: the task that
    asks for the pins refuses in one line naming every variable to export."""
    proc = _child(
        """
        from rwtheory.experiments import pins
        try:
            pins.require_pinned()
        except pins.UnpinnedProcess as exc:
            print("REFUSED", exc)
        else:
            print("ACCEPTED")
        """,
        _unpinned_environment(),
    )
    assert proc.returncode == 0, proc.stderr
    if not pins.pinnable():
        assert proc.stdout.startswith("ACCEPTED")
        return
    out = proc.stdout.strip()
    assert out.startswith("REFUSED") and len(out.splitlines()) == 1
    assert pins.export_line() in out


def test_the_check_reads_the_effective_dispatch_not_the_variables():
    """With every variable at its pinned value but numpy's AVX2 target disabled as well,
    numpy runs its baseline loops where an AVX2 machine runs AVX2 ones: detected."""
    if not pins.pinnable():
        pytest.skip("no AVX2 path on this machine (nothing to pin)")
    from numpy._core import _multiarray_umath as m

    env = {**_unpinned_environment(), **pins.variables()}
    env["NPY_DISABLE_CPU_FEATURES"] = " ".join(m.__cpu_dispatch__)  # AVX2 level off too
    proc = _child(
        """
        from rwtheory.experiments import pins
        eff = pins.effective()
        print(len(eff.numpy_off))
        print(*pins.problems(eff), sep=chr(10))
        """,
        env,
    )
    assert proc.returncode == 0, proc.stderr
    count, *problems = proc.stdout.splitlines()
    assert int(count) > 0
    assert any(p.startswith(f"numpy dispatches {count} function(s)") for p in problems)


def test_pinning_this_process_works_only_before_numpy_is_loaded():
    assert not pins.pin_this_process()  # numpy is loaded in the test process
    proc = _child(
        """
        import sys
        from rwtheory.experiments import pins
        pinned = pins.pin_this_process()
        assert "numpy" not in sys.modules or not pinned
        print(pinned, pins.problems())
        """,
        _unpinned_environment(),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (f"{pins.pinnable()} []")


def test_the_documented_export_line_pins_a_process_started_after_it():
    """docs/reproducing.md's recipe for workers started by hand: ``eval "$(rwtheory pins
    --export)"`` in a shell without the variables, then a process started from that shell
    computes on the pinned paths (the same check the tasks make)."""
    script = os.path.join(os.path.dirname(sys.executable), "rwtheory")
    check = "from rwtheory.experiments import pins; pins.require_pinned(); print('PINNED')"
    shell = f'eval "$({script} pins --export)" && {sys.executable} -c "{check}"'
    proc = subprocess.run(
        ["bash", "-c", shell],
        env=_unpinned_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "PINNED", proc.stderr[-1500:]
    if pins.pinnable():
        unpinned = subprocess.run(
            ["bash", "-c", f'{sys.executable} -c "{check}"'],
            env=_unpinned_environment(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert unpinned.returncode != 0 and "UnpinnedProcess" in unpinned.stderr
