"""The strategies a figure shows: the paper's, and every strategy a user registered.

A strategy registered with :func:`rwtheory.weights.strategies.register_strategy` reaches the
figures that compare strategies -- Figure 1's shapes, Figure 7's runs and shapes, Figure 8's
runs at the shared rate, the max-weight figure's runs at r = 1 and 2, and the Figure 7 and
Figure 8 families of the robustness study (their decomposition records) -- without an edit
of a figure module: they read the registry through :func:`figure_strategies` and
:func:`user_strategies`. The figures that study one named strategy of the paper (the
r-sensitivity of LinUpper, the theory-against-practice pairs of the paper's strategies, the
LM study's arms) keep their lists. Their claims are
still judged on the paper's strategies only (:data:`PAPER`): a strategy of yours is drawn,
written to the CSV and recorded beside them, and its formula (the record's ``formula``) goes
into the caption.

The figures run in worker processes (:mod:`rwtheory.experiments.pool`), which start fresh,
so a strategy must be registered by code they import too. Two ways, both read once per
process by :func:`load_plugins`:

* an installed package declares an entry point in the group ``rwtheory_strategies``
  (``[project.entry-points."rwtheory_strategies"] mine = "mypkg.strategies"``): the object
  it names -- a module (registering at import), a :class:`StrategyRecord`, an iterable of
  them, or a callable registering them -- is loaded;
* the variable ``RWTHEORY_PLUGINS`` names modules to import, separated by commas; the
  command line's ``rwtheory --plugin MODULE`` sets it (and the workers inherit it).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import types
from collections.abc import Iterable, Iterator
from importlib import metadata

from rwtheory._array import InputValueError
from rwtheory.weights.strategies import (
    StrategyRecord,
    get_strategy,
    is_builtin,
    register_strategy,
    registered_strategies,
    unregister_strategy,
)

__all__ = [
    "ENTRY_POINTS",
    "PAPER",
    "PLUGINS_VARIABLE",
    "figure_strategies",
    "load_plugins",
    "plugins",
    "strategy_label",
    "user_strategies",
]

#: The paper's strategies, in its order (the claims are judged on these).
PAPER = ("uniform", "linupper", "quadratic", "extremes")
#: The entry-point group of packages that register strategies.
ENTRY_POINTS = "rwtheory_strategies"
#: The environment variable naming plugin modules (comma-separated).
PLUGINS_VARIABLE = "RWTHEORY_PLUGINS"


def _register(obj, source: str) -> None:
    """Register what a plugin gave: a record, an iterable of records, a callable (called),
    or a module (its import registered already). A record already registered as the same
    object is left alone (a plugin loaded twice)."""
    if isinstance(obj, StrategyRecord):
        if obj.name in registered_strategies() and get_strategy(obj.name) is obj:
            return
        register_strategy(obj)
    elif isinstance(obj, types.ModuleType) or obj is None:
        return
    elif callable(obj) and not isinstance(obj, type):
        _register(obj(), source)
    elif isinstance(obj, Iterable) and not isinstance(obj, str | bytes):
        for item in obj:
            _register(item, source)
    else:
        raise InputValueError(
            f"plugin {source} must give a StrategyRecord, an iterable of them, a callable or "
            f"a module, got {type(obj).__name__}"
        )


@functools.cache
def load_plugins() -> tuple[str, ...]:
    """Import the plugin modules of ``RWTHEORY_PLUGINS`` and load the entry points of
    :data:`ENTRY_POINTS` (once per process); returns what was loaded, by name."""
    loaded = []
    for name in filter(None, (m.strip() for m in os.environ.get(PLUGINS_VARIABLE, "").split(","))):
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise InputValueError(
                f"{PLUGINS_VARIABLE} names module {name!r}, which cannot be imported: {exc}"
            ) from None
        loaded.append(name)
    for ep in metadata.entry_points(group=ENTRY_POINTS):
        _register(ep.load(), f"entry point {ep.name!r} ({ep.value})")
        loaded.append(ep.value)
    return tuple(loaded)


@contextlib.contextmanager
def plugins(modules: Iterable[str]) -> Iterator[tuple[str, ...]]:
    """While active, the plugin modules ``modules`` are named in ``RWTHEORY_PLUGINS`` (so
    that worker processes started meanwhile import them) and imported here; on exit the
    variable is restored and the strategies they registered are removed (the command
    line's ``--plugin``)."""
    modules = tuple(modules)
    old = os.environ.get(PLUGINS_VARIABLE)
    before = set(registered_strategies())
    os.environ[PLUGINS_VARIABLE] = ",".join(filter(None, (old, *modules)))
    load_plugins.cache_clear()
    try:
        yield load_plugins()
    finally:
        if old is None:
            os.environ.pop(PLUGINS_VARIABLE, None)
        else:
            os.environ[PLUGINS_VARIABLE] = old
        for name in set(registered_strategies()) - before:
            unregister_strategy(name)
        load_plugins.cache_clear()


def user_strategies() -> tuple[str, ...]:
    """The registered strategies that are not the package's own, in registration order
    (the plugins loaded first)."""
    load_plugins()
    return tuple(n for n in registered_strategies() if not is_builtin(get_strategy(n)))


def figure_strategies(base: Iterable[str] = PAPER) -> tuple[str, ...]:
    """The strategies a figure shows: ``base`` (the paper's), then every user strategy."""
    base = tuple(base)
    return base + tuple(n for n in user_strategies() if n not in base)


def strategy_label(name: str, temperature: float) -> str:
    """A curve's label: ``"uniform"`` for a constant strategy, else ``"NAME (r=R)"``."""
    return name if get_strategy(name).constant else f"{name} (r={temperature:g})"
