"""The robustness study: the declared grids, the analysis of a study (on made-up verdicts),
the same bytes from one worker, two workers, a resumed run and a Dask cluster, and the CLI's
bad-input handling."""

import contextlib
import math
import os

import pytest

from rwtheory.cli import main
from rwtheory.experiments import fig7, fig8, max_weight, r_sensitivity, robustness
from rwtheory.experiments import robustness_report as report
from rwtheory.experiments.robustness_grid import FAMILIES, Setting, StudyGrid, load_grid
from rwtheory.experiments.robustness_stats import wilson

#: A grid small enough for the tests: Fig. 8 on 6 settings of a 40 x 5 / 30 x 25 problem
#: (two chunks of robustness.CHUNK = 4), 10 seeds, 60 steps.
TINY = dict(
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


def test_default_grid_is_large_enough_and_starts_at_the_figures_own_setting():
    grid = load_grid("default")
    settings = {f: grid.settings(f) for f in FAMILIES}
    assert sum(len(v) for v in settings.values()) >= 500 and grid.seeds >= 10
    for ss in settings.values():
        assert len({s.params for s in ss}) == len(ss)  # no setting twice
        assert [s.index for s in ss] == list(range(len(ss)))
    shared = dict(
        n=1000,
        d=20,
        noise=0.1,
        outlier_feature_law="gaussian",
        outlier_feature_scale=1.0,
        outlier_target_scale=1.0,
        lr_unit="absolute",
    )
    base = {f: settings[f][0].kwargs() for f in FAMILIES}
    expect = {
        "fig7": dict(
            lr=fig7.LR, steps=fig7.STEPS, outlier_fraction=fig7.OUTLIER_FRACTION, r=fig7.TEMPERATURE
        ),
        "fig8": dict(
            lr=fig8.LR,
            steps=fig8.STEPS,
            outlier_fraction=fig8.OUTLIER_FRACTION,
            r=fig8.R_LINUPPER,
            tau=fig8.TAU,
        ),
        "r_sensitivity": dict(
            lr=r_sensitivity.LR,
            steps=r_sensitivity.STEPS,
            outlier_fraction=r_sensitivity.OUTLIER_FRACTION,
        ),
        "max_weight": dict(
            lr=max_weight.LR,
            steps=max_weight.STEPS,
            batch=max_weight.BATCH,
            outlier_fraction=max_weight.OUTLIER_FRACTION,
            tau=max_weight.TAU,
        ),
    }
    for family in FAMILIES:
        kwargs = base[family]
        kwargs.pop("outlier_feature_df")
        assert kwargs == {**shared, **expect[family]}, family
    # the sample is a function of the grid only
    assert load_grid("default").settings("fig8") == settings["fig8"]


def test_quick_grid_is_small():
    grid = load_grid("quick")
    settings = [s for f in FAMILIES for s in grid.settings(f)]
    assert len(settings) == 12 and grid.seeds >= 10
    assert all(s.kwargs()["n"] * s.kwargs()["d"] <= 3000 for s in settings)


@pytest.mark.parametrize(
    "change,message",
    [
        (dict(bogus=1), "at $: Additional properties are not allowed ('bogus' was unexpected)"),
        (dict(seeds=0), "at $.seeds: 0 is less than the minimum of 1"),
        (dict(axes={**TINY["axes"], "lr": ["fast"]}), "at $.axes.lr[0]: 'fast' does not match"),
        (dict(axes={**TINY["axes"], "n_d": ["40by5"]}), "at $.axes.n_d[0]: '40by5'"),
        (dict(axes={**TINY["axes"], "outlier_features": ["cauchy:1"]}), "outlier_features[0]"),
        (dict(fig8=dict(outlier_fraction=[1.5], r=[1.0], tau=[1.0])), "exclusiveMaximum"),
        (dict(axes={**TINY["axes"], "steps": [300.5]}), "at $.axes.steps[0]: 300.5 is not of"),
        (dict(max_weight=dict(outlier_fraction=[0.1], batch=[100000], tau=[1.0])), "1..30"),
        (dict(fig7=dict(outlier_fraction=[0.999], r=[1.0])), "leave a clean sample"),
        (dict(fig7=dict(outlier_fraction=[0.1])), "axes must be exactly"),
        (dict(include_base=True), "include_base needs the base levels"),
    ],
)
def test_bad_grids_are_refused_by_name(change, message):
    with pytest.raises(ValueError) as e:
        load_grid({**TINY, **change})
    assert message in str(e.value)


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--grid", "nonexistent"], "grid must be one of ('default', 'quick') or a TOML file"),
        (["--only", "fig9.fastest"], "unknown claim(s) ['fig9.fastest']"),
        (["--seeds", "0"], "must be an integer >= 1"),
        (["--workers", "-1"], "must be an integer >= 1"),
    ],
)
def test_cli_bad_input_writes_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "rob"
    with pytest.raises(SystemExit) as e:
        main(["robustness", "--out", str(out), *argv])
    assert e.value.code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


# ---------------------------------------------------------------------- analysis
def _made_up_study() -> robustness.Study:
    """Fig. 8's 'slower' claim on a made-up 2 x 2 x 2 grid: it holds exactly where
    lr = 0.5/L, with caveat at lr = 0.1 and tau = 1, and fails elsewhere."""
    grid = load_grid(TINY)
    settings, verdicts = [], {}
    i = 0
    for n_d in ("40x5", "30x25"):
        for lr in ("0.1", "0.5/L"):
            for tau in (0.4, 1.0):
                params = dict(
                    n_d=n_d,
                    noise=0.1,
                    outlier_features="gaussian:1",
                    outlier_targets=1.0,
                    lr=lr,
                    steps=60,
                    outlier_fraction=0.25,
                    r=1.0,
                    tau=tau,
                )
                settings.append(Setting("fig8", i, tuple(params.items())))
                status = (
                    "holds" if lr == "0.5/L" else "holds with caveat" if tau == 1.0 else "fails"
                )
                verdicts[("fig8", i)] = [
                    dict(
                        claim="fig8.drokl_slower_small_rate",
                        status=status,
                        margin=float(i),
                        numbers={},
                    )
                ]
                i += 1
    return robustness.Study(
        grid, ("fig8.drokl_slower_small_rate",), {"fig8": settings}, verdicts, "test"
    )


def test_analysis_finds_the_parameter_that_flips_the_verdict():
    study = _made_up_study()
    st = report.claim_stats(study, "fig8.drokl_slower_small_rate")
    assert st.n == 8 and st.counts == {"holds": 4, "holds with caveat": 2, "fails": 2}
    assert st.effects["lr"] == pytest.approx(1 - 0.25)  # 1 vs mean(0.5, 0)
    assert st.effects["tau"] == pytest.approx(0.75 - 0.5)
    assert st.effects["n_d"] == 0 and st.top_axes == ["lr", "tau"]
    assert st.by_level["lr"]["0.5/L"] == {"holds": 4, "holds with caveat": 0, "fails": 0}
    # ranked by status, then by margin: the last 'holds' setting is the most favourable
    assert st.ranked[0].setting == 7 and st.ranked[-1].status == "fails"
    low, high = st.intervals["holds"]
    assert low < 0.5 < high
    text = report.flip_text(st)
    assert text.startswith("moves most with lr") and "0.5/L: 4/0/0" in text
    note = report.ledger_notes(study)["fig8.drokl_slower_small_rate"]
    assert "holds in 4 of 8 settings (grid custom" in note


def test_wilson_interval():
    low, high = wilson(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-4) and high == pytest.approx(0.7634, abs=1e-4)
    assert wilson(0, 10)[0] == 0 and wilson(10, 10)[1] == pytest.approx(1)


# ---------------------------------------------------------------------- runs
def _outputs(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory):
    """The tiny study on one worker process, uninterrupted."""
    out = tmp_path_factory.mktemp("one")
    study = robustness.run_study(load_grid(TINY), only=["fig8"], workers=1, out=out)
    report.write(study, out)
    return study, _outputs(out), out


def test_outputs_hold_every_claim_and_setting(one_worker, tmp_path):
    study, files, out = one_worker
    assert set(files) == {
        "summary.csv",
        "summary.md",
        "fig8_settings.csv",
        "fig8.csv",
        "fig8.png",
        "grid.json",
        "fig8_decomposition.csv",  # issue 26: training objective vs clean test MSE
        "decomposition.md",
    }
    # every verdict read back from the stored chunks gives the same files
    stored = robustness.run_study(
        load_grid(TINY),
        only=["fig8"],
        workers=1,
        out=out,
        on_chunk=lambda f, c: pytest.fail("recomputed a chunk"),
    )
    report.write(stored, tmp_path / "stored")
    assert _outputs(tmp_path / "stored") == files
    # the outputs hold the whole study: read back, they give the same files
    again = report.load(out)
    assert again.grid == study.grid and again.claims == study.claims
    report.write(again, tmp_path)
    assert _outputs(tmp_path) == files
    lines = files["fig8_settings.csv"].decode().splitlines()
    assert lines[0].startswith("# rwtheory robustness study, rwtheory ")
    assert f"grid custom (digest {study.grid.digest()}" in lines[0]
    rows = [ln.split(",") for ln in lines[2:]]
    assert len(rows) == 3 * 6  # three claims x six settings
    status = lines[1].split(",").index("status")
    notes = report.ledger_notes(study)
    for claim in fig8.RULES:
        k = sum(r[0] == claim and r[status] == "holds" for r in rows)
        assert f"holds in {k} of 6 settings" in notes[claim]
    # each status follows from the numbers written beside it (DRO-KL's divergence counts
    # only where uniform and linupper converge)
    head = lines[1].split(",")
    col = {
        name: head.index(f"rule_{name}")
        for name in ("dro_kl_diverged", "uniform_diverged", "linupper_diverged")
    }
    div = [r for r in rows if r[0] == "fig8.drokl_diverges_shared_rate"]
    for r in div:
        n, others = (
            float(r[col["dro_kl_diverged"]]),
            float(r[col["uniform_diverged"]]) + float(r[col["linupper_diverged"]]),
        )
        expect = "fails" if others or n == 0 else "holds" if n == 10 else "holds with caveat"
        assert r[status] == expect


def test_interrupted_study_resumes_with_the_same_bytes(one_worker, tmp_path):
    """Stop after the first stored chunk; the rerun (on two workers) computes only the
    other chunk and writes the same bytes as the uninterrupted one-worker run."""
    grid = load_grid(TINY)

    def stop(family, chunk):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        robustness.run_study(grid, only=["fig8"], workers=2, out=tmp_path, on_chunk=stop)
    stored = list((tmp_path / "chunks").rglob("*.json"))
    assert len(stored) == 1 and not (tmp_path / "summary.csv").exists()
    computed = []
    study = robustness.run_study(
        grid, only=["fig8"], workers=2, out=tmp_path, on_chunk=lambda f, c: computed.append((f, c))
    )
    assert len(computed) == 1 and f"{computed[0][0]}-{computed[0][1]:04d}.json" != stored[0].name
    report.write(study, tmp_path)
    assert _outputs(tmp_path) == one_worker[1]


def test_dask_cluster_gives_the_same_bytes(one_worker, tmp_path):
    pytest.importorskip(
        "distributed",
        reason="Dask is absent: pip install 'rwtheory[dask]' (the test extra includes it)",
    )
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        study = robustness.run_study(
            load_grid(TINY), only=["fig8"], scheduler=cluster.scheduler_address, out=tmp_path
        )
    report.write(study, tmp_path)
    assert _outputs(tmp_path) == one_worker[1]


@contextlib.contextmanager
def _dask_processes(folder, workers: int, env: dict):
    """A real ``dask scheduler`` and ``workers`` x ``dask worker`` processes on 127.0.0.1
    (started as a user would, from the command line, with the environment ``env``); yields
    the scheduler's address."""
    import json
    import subprocess
    import sys
    import time
    from pathlib import Path

    dask = str(Path(sys.executable).parent / "dask")
    file = folder / "scheduler.json"
    common = dict(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [
        subprocess.Popen(
            [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
            + ["--scheduler-file", str(file)],
            **common,
        )
    ]
    try:
        start = time.monotonic()
        while not file.is_file():
            assert time.monotonic() - start < 60, "the scheduler did not start"
            time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        for _ in range(workers):
            procs.append(
                subprocess.Popen(
                    [dask, "worker", address, "--nthreads", "1", "--no-dashboard"]
                    + ["--host", "127.0.0.1", "--local-directory", str(folder)],
                    **common,
                )
            )
        from distributed import Client

        with Client(address, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=60)
        yield address
    finally:
        for p in procs[::-1]:
            p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()


def _environment(pinned: bool) -> dict:

    from rwtheory.experiments import pins

    env = {k: v for k, v in os.environ.items() if k not in pins.variables()}
    return {**env, **pins.variables()} if pinned else env


def test_dask_workers_started_by_hand_with_the_pins_give_the_local_bytes(one_worker, tmp_path):
    pytest.importorskip("distributed", reason="Dask is absent: pip install 'rwtheory[dask]'")
    with _dask_processes(tmp_path, 2, _environment(pinned=True)) as address:
        study = robustness.run_study(
            load_grid(TINY), only=["fig8"], scheduler=address, out=tmp_path
        )
    report.write(study, tmp_path)
    assert {k: v for k, v in _outputs(tmp_path).items() if k != "scheduler.json"} == one_worker[1]


def test_a_dask_worker_without_the_pins_is_refused_in_one_line(tmp_path, capsys):
    pytest.importorskip("distributed", reason="Dask is absent: pip install 'rwtheory[dask]'")
    from rwtheory.experiments import pins

    with _dask_processes(tmp_path, 1, _environment(pinned=False)) as address:
        code = main(
            ["robustness", "--grid", "quick", "--only", "fig8", "--scheduler", address]
            + ["--out", str(tmp_path / "out")]
        )
    err = capsys.readouterr().err.strip()
    if not pins.pinnable():  # nothing to pin: the worker computes
        assert code == 0
        return
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("rwtheory: this process computes with unpinned CPU code paths")
    assert pins.export_line() in err
    assert not list((tmp_path / "out").glob("*.csv"))  # nothing computed unpinned was written


def test_an_unreachable_scheduler_is_one_line_and_exit_2(tmp_path, capsys):
    pytest.importorskip("distributed", reason="Dask is absent: pip install 'rwtheory[dask]'")
    import time

    start = time.monotonic()
    code = main(
        ["robustness", "--grid", "quick", "--only", "fig8", "--scheduler", "tcp://127.0.0.1:9"]
        + ["--out", str(tmp_path)]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("rwtheory: no Dask scheduler answered at 'tcp://127.0.0.1:9'")
    assert time.monotonic() - start < robustness.CONNECT_TIMEOUT + 20


def test_run_setting_applies_the_figure_rules():
    """One setting of Fig. 7 on the tiny problem: a verdict per claim, from fig7.RULES."""
    grid = load_grid(TINY)
    setting = grid.settings("fig7")[0]
    got = robustness.run_setting(setting, 10)
    _, summary = fig7.measure(list(range(10)), **setting.kwargs())
    assert [v["claim"] for v in got] == list(fig7.RULES)
    for v, rule in zip(got, fig7.RULES.values(), strict=True):
        expect = rule(summary)
        assert v["status"] == expect.status and v["margin"] == expect.margin
    assert math.isfinite(got[0]["numbers"]["linupper_final"])
    assert isinstance(grid, StudyGrid)


def test_problem_options_of_the_grid_change_only_the_outliers():
    """The options added for the grid leave the default problem as it was and act on the
    outliers only: heavy-tailed features, targets scaled by c."""
    import numpy as np

    from rwtheory.convex.problems import regression_with_outliers

    base = regression_with_outliers(3, n=200, d=5)
    same = regression_with_outliers(
        3, n=200, d=5, outlier_feature_law="gaussian", outlier_target_scale=1.0
    )
    np.testing.assert_array_equal(base.A, same.A)
    np.testing.assert_array_equal(base.b, same.b)
    far = regression_with_outliers(3, n=200, d=5, outlier_target_scale=10.0)
    out = base.outliers
    assert (far.outliers == out).all()
    np.testing.assert_array_equal(far.A, base.A)
    np.testing.assert_array_equal(far.b[~out], base.b[~out])
    np.testing.assert_allclose(far.b[out], 10 * base.b[out], rtol=1e-15)
    # Student-t features draw from the stream differently: the same clean samples (in
    # another order), heavier-tailed outlier features
    heavy = regression_with_outliers(
        3, n=200, d=5, outlier_feature_law="student_t", outlier_feature_df=3.0
    )
    for k in range(3):
        clean = np.sort(base.A[k][~out[k]], axis=0)
        np.testing.assert_array_equal(np.sort(heavy.A[k][~heavy.outliers[k]], axis=0), clean)
    u_t, u_g = heavy.A[:, :, :-1][heavy.outliers], base.A[:, :, :-1][out]
    assert np.abs(u_t).max() > np.abs(u_g).max()
    with pytest.raises(ValueError, match="outlier_feature_law must be"):
        regression_with_outliers(1, outlier_feature_law="cauchy")
