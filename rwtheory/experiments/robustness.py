"""The robustness study: every empirical claim of Figures 7-8 and App. A.4-A.5, re-judged by
its own status rule at every setting of a declared grid.

``rwtheory robustness [--only CLAIM ...] [--grid default|quick|FILE] [--seeds N]
[--workers K] [--scheduler ADDRESS] [--out DIR]``.

For each family (a figure module with ``measure`` and ``RULES``) and each of its settings
(:mod:`rwtheory.experiments.robustness_grid`, where the grid is argued), the family's
``measure`` runs the setting's seeds and every rule of ``RULES`` -- the very functions that
set the statuses of ``paper_checks.md`` -- gives the setting its verdict. Fig. 8's Table-12
tau sweep (quoted in its ledger row, used by no rule) is skipped.

Execution. Settings are independent, so they run in chunks of :data:`CHUNK` settings of one
family, in worker processes (``--workers K``, default: every core; processes are started
with ``spawn`` and one BLAS thread each) or on a Dask cluster (``--scheduler ADDRESS``,
extra ``rwtheory[dask]``; Dask workers run one BLAS thread by default). A setting's seeds
are 0..seeds-1 whatever runs it, so the output bytes do not depend on the number of workers
or on the backend. Each finished chunk is written atomically to
``OUT/chunks/<grid digest>/<family>-<chunk>.json`` with the grid, the seeds, the package
version and a fingerprint of the code that computed it; a rerun skips every chunk whose
file matches and computes the rest (an interrupted study resumes). The outputs
(:mod:`rwtheory.experiments.robustness_report`) are written only once every chunk exists.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import sys
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from rwtheory._array import InputValueError, describe
from rwtheory.convex.problems import seed_list
from rwtheory.experiments import pins
from rwtheory.experiments.lineup import user_strategies
from rwtheory.experiments.pool import default_workers, process_pool
from rwtheory.experiments.robustness_grid import FAMILIES, Setting, StudyGrid, load_grid
from rwtheory.report.files import atomic_write_text
from rwtheory.weights.strategies import get_strategy

__all__ = ["CHUNK", "SchedulerUnreachable", "Study", "claim_keys", "run_setting", "run_study"]

#: Settings per chunk (the unit of work of a worker and of resumption).
CHUNK = 4
DEFAULT_OUT = Path("figures") / "robustness"


def _module(family: str):
    return importlib.import_module(f"rwtheory.experiments.{family}")


def claim_keys(family: str) -> list[str]:
    """The claims a family's rules judge, in ledger order."""
    return list(_module(family).RULES)


def _floats(numbers: dict) -> dict:
    return {k: (None if x is None else float(x)) for k, x in numbers.items()}


def measure_setting(setting: Setting, seeds: int) -> tuple[list[dict], list[dict]]:
    """Run one setting: the verdicts of :func:`run_setting` and, for a family whose module
    defines ``decomposition(summary)`` (issue 26: does each strategy speed up the unweighted
    training objective, does it improve the clean test MSE), its records (one dict per
    strategy; empty otherwise)."""
    module = _module(setting.family)
    kwargs = setting.kwargs()
    if setting.family == "fig8":
        kwargs["tau_sweep"] = ()
    _, summary = module.measure(seed_list(seeds), **kwargs)
    out = []
    for key, rule in module.RULES.items():
        v = rule(summary)
        out.append(
            dict(claim=key, status=v.status, margin=float(v.margin), numbers=_floats(v.numbers))
        )
    decompose = getattr(module, "decomposition", None)
    records = [] if decompose is None else decompose(summary)
    records = [dict(r, numbers=_floats(r["numbers"])) for r in records]
    return out, records


def run_setting(setting: Setting, seeds: int) -> list[dict]:
    """Run one setting and apply every rule of its family: one dict per claim with the
    ``status``, ``margin`` and ``numbers`` of its :class:`~rwtheory.experiments.verdict.Verdict`."""
    return measure_setting(setting, seeds)[0]


def run_chunk(settings: Sequence[Setting], seeds: int) -> list[dict]:
    """Run a chunk of settings (one worker task, local or Dask): per setting, its ``verdicts``
    and its ``records`` (:func:`measure_setting`). Refuses to compute in a process without the
    CPU pins (:mod:`rwtheory.experiments.pins`), a Dask worker started without them for
    instance."""
    pins.require_pinned()
    return [
        dict(zip(("verdicts", "records"), measure_setting(s, seeds), strict=True)) for s in settings
    ]


@dataclass(frozen=True)
class Study:
    """A finished study: the grid, the claims judged, every family's settings and, per
    (family, setting index), the verdict dicts of :func:`run_setting` and the records of
    :func:`measure_setting` (empty lists for a family without ``decomposition``)."""

    grid: StudyGrid
    claims: tuple[str, ...]
    settings: dict[str, list[Setting]]
    verdicts: dict[tuple[str, int], list[dict]]
    version: str
    records: dict[tuple[str, int], list[dict]] = field(default_factory=dict)


def package_version() -> str:
    try:
        return metadata.version("rwtheory")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source tree without install
        return "unknown"


#: Modules of rwtheory/experiments that only present a finished study (not in the
#: fingerprint: editing them does not invalidate stored chunks).
PRESENTATION = ("robustness_report.py", "robustness_plots.py")


def code_fingerprint() -> str:
    """SHA-256 (12 hex digits) of the sources that compute a verdict: rwtheory/convex,
    rwtheory/weights and rwtheory/experiments except :data:`PRESENTATION`. A chunk computed
    by other code is redone."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for sub in ("convex", "weights", "experiments"):
        for path in sorted((root / sub).glob("*.py")):
            if path.name not in PRESENTATION:
                h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


def _strategy_key(name: str) -> str:
    """A user strategy as the chunk key holds it: its name, its score function and a digest
    of the score's source (a chunk computed with other code for it is redone)."""
    import inspect

    score = get_strategy(name).score
    try:
        source = inspect.getsource(score)
    except (OSError, TypeError):  # no source (a builtin, a lambda typed at a prompt)
        source = repr(score)
    return f"{name}: {describe(score)} {hashlib.sha256(source.encode()).hexdigest()[:12]}"


class ChunkStore:
    """Finished chunks on disk, one JSON file each, written atomically."""

    def __init__(self, out: Path, grid: StudyGrid):
        self.folder = Path(out) / "chunks" / grid.digest()
        self.key = dict(grid=grid.as_dict(), version=package_version(), code=code_fingerprint())
        extra = [_strategy_key(name) for name in user_strategies()]
        if extra:  # strategies a user registered run too (rwtheory.experiments.lineup)
            self.key["strategies"] = extra

    def path(self, family: str, chunk: int) -> Path:
        return self.folder / f"{family}-{chunk:04d}.json"

    def load(self, family: str, chunk: int) -> list[dict] | None:
        try:
            data = json.loads(self.path(family, chunk).read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return data["verdicts"] if data.get("key") == self.key else None

    def save(self, family: str, chunk: int, verdicts: list[dict]) -> None:
        atomic_write_text(
            self.path(family, chunk),
            json.dumps(dict(key=self.key, verdicts=verdicts), sort_keys=True),
        )


#: A chunk of a family: (family, chunk index), and what a chunk task returns; the study's
#: result streams yield (chunk, result) pairs and are closed when the study stops early.
Chunk = tuple[str, int]
Results = Generator[tuple[Chunk, list[dict]], None, None]


def _local(tasks: list[tuple[Chunk, Sequence[Setting]]], seeds: int, pool: Executor) -> Results:
    """(task, result) in completion order from the process pool ``pool``; the tasks not yet
    started are cancelled when the caller stops early."""
    futures = {pool.submit(run_chunk, settings, seeds): t for t, settings in tasks}
    try:
        for f in as_completed(futures):
            yield futures[f], f.result()
    finally:
        for f in futures:
            f.cancel()


#: Seconds to wait for a Dask scheduler before giving up.
CONNECT_TIMEOUT = 10


class SchedulerUnreachable(RuntimeError):
    """The Dask scheduler given to :func:`run_study` cannot be reached."""


def _dask(tasks: list[tuple[Chunk, Sequence[Setting]]], seeds: int, address: str) -> Results:
    """(task, result) in completion order from the Dask cluster at ``address``. Its workers
    must run with the CPU pins (:mod:`rwtheory.experiments.pins`): start each with
    ``eval "$(rwtheory pins --export)"; dask worker ADDRESS``; a worker without them refuses
    its tasks (:class:`~rwtheory.experiments.pins.UnpinnedProcess`)."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise RuntimeError("--scheduler needs Dask: pip install 'rwtheory[dask]'") from None
    try:
        client = Client(address, timeout=f"{CONNECT_TIMEOUT}s")
    except ValueError as exc:  # not an address
        raise InputValueError(
            f"scheduler must be the address of a running Dask scheduler (e.g. "
            f"tcp://HOST:8786), got {address!r}: {type(exc).__name__}: {exc}"
        ) from None
    except (OSError, TimeoutError) as exc:
        raise SchedulerUnreachable(
            f"no Dask scheduler answered at {address!r} within {CONNECT_TIMEOUT} s ({exc})"
        ) from None
    with client:
        futures = {
            client.submit(run_chunk, settings, seeds, pure=False): t for t, settings in tasks
        }
        try:
            for f in as_completed(list(futures)):
                yield futures[f], f.result()
        finally:
            client.cancel(list(futures))


def run_study(
    grid: StudyGrid | str | Path = "default",
    *,
    only: Sequence[str] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    out: str | Path = DEFAULT_OUT,
    on_chunk: Callable[[str, int], None] | None = None,
    executor: Executor | None = None,
) -> Study:
    """Run (or resume) the study and return it; writes only the chunk files (the outputs:
    :func:`rwtheory.experiments.robustness_report.write`). ``only``: claim keys or family
    names; ``on_chunk(family, chunk)`` is called after each computed chunk is stored;
    ``executor``: a pool of :func:`rwtheory.experiments.pool.process_pool` shared with other
    tasks (``rwtheory reproduce``), used instead of a pool of ``workers`` of its own."""
    grid = grid if isinstance(grid, StudyGrid) else load_grid(grid)
    claims = select_claims(only)
    families = [f for f in FAMILIES if any(c.startswith(f + ".") for c in claims)]
    store = ChunkStore(Path(out), grid)
    settings = {f: grid.settings(f) for f in families}
    todo: list[tuple[Chunk, Sequence[Setting]]] = []
    done: dict[Chunk, list[dict]] = {}
    for f in families:
        for c in range(0, len(settings[f]), CHUNK):
            stored = store.load(f, c // CHUNK)
            if stored is None:
                todo.append(((f, c // CHUNK), settings[f][c : c + CHUNK]))
            else:
                done[(f, c // CHUNK)] = stored
    if todo:
        with contextlib.ExitStack() as stack:
            if scheduler:
                results = _dask(todo, grid.seeds, scheduler)
            else:
                pool = executor or stack.enter_context(process_pool(workers or default_workers()))
                results = _local(todo, grid.seeds, pool)
            stack.enter_context(contextlib.closing(results))
            bar = stack.enter_context(_progress(len(todo)))
            for (f, c), per_chunk in results:
                store.save(f, c, per_chunk)
                done[(f, c)] = per_chunk
                bar()
                if on_chunk is not None:
                    on_chunk(f, c)
    per_setting = {
        (f, s.index): done[(f, s.index // CHUNK)][s.index % CHUNK]
        for f in families
        for s in settings[f]
    }
    verdicts = {k: v["verdicts"] for k, v in per_setting.items()}
    records = {k: v["records"] for k, v in per_setting.items()}
    return Study(grid, tuple(claims), settings, verdicts, package_version(), records)


def select_claims(only: Sequence[str] | None) -> list[str]:
    """Claim keys for ``only`` (claim keys or family names; None: every claim)."""
    every = [k for f in FAMILIES for k in claim_keys(f)]
    if not only:
        return every
    unknown = [x for x in only if x not in every and x not in FAMILIES]
    if unknown:
        raise ValueError(
            f"unknown claim(s) {unknown}; choose from {every} or the families {list(FAMILIES)}"
        )
    return [k for k in every if k in only or k.split(".")[0] in only]


@contextlib.contextmanager
def _progress(total: int) -> Iterator[Callable[[], object]]:
    """A tqdm bar on stderr when it is a terminal (else a no-op); yields an updater."""
    if not sys.stderr.isatty():
        yield lambda: None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc="robustness", unit="chunk", file=sys.stderr, leave=False)
    try:
        yield bar.update
    finally:
        bar.close()
