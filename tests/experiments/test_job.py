"""``rwtheory reproduce``'s tasks give in spawned workers exactly what they give in this
process: the same figure bytes, the same LM study, the same claims."""

from rwtheory.experiments import job, lm_pretrain, pool
from rwtheory.report import figures, ledger


def _files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_tasks_in_workers_equal_the_same_work_in_this_process(tmp_path):
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    cfg = lm_pretrain.study_config(quick=True)
    with pool.process_pool(2) as ex:
        fig = ex.submit(job.figure_task, "fig1", there, True)
        check = ex.submit(job.check_task, "cap", True)
        runs = lm_pretrain.submit_runs(cfg, ex)
        fig, check = fig.result(), check.result()
        lm = lm_pretrain.assemble(cfg, runs, quick=True)
    own = lm_pretrain.build(quick=True)
    assert lm.columns == own.columns and lm.summary == own.summary
    assert lm.caption == own.caption
    figures.save(_build("fig1"), here)
    assert _files(here) == _files(there) and fig.figure is None
    assert check.claims == ledger.run_provider("cap", True).claims


def _build(name):
    from rwtheory import experiments

    return experiments.FIGURES[name].build(seeds=None, quick=True)


def test_the_lm_study_splits_into_runs_and_the_regression_figures_do_not():
    from rwtheory import experiments

    assert [n for n, m in experiments.FIGURES.items() if job.split(m)] == ["lm"]
    assert "lm" not in job.check_providers() and "theorems" in job.check_providers()
