"""
Register a strategy and see it in Figure 7 and in a robustness run
===================================================================

A strategy is one :class:`~rwtheory.weights.strategies.StrategyRecord`: its score function,
the range of its scores (for the cap analysis) and, for the captions, its formula. Once
registered, every consumer accepts its name -- the weighting pipeline, the convex engine, the
LM path -- and the figures that compare strategies draw it beside the paper's without any
edit of a figure module. This example registers a gentle variant of Extremes, draws it in
Figure 7, and runs it through the Figure 7 family of the robustness study.
"""

# %%
# The strategy, in a module
# -------------------------
# The figures and the study run in worker processes, which start fresh: they must import the
# code that registers the strategy. So it lives in a module -- here written to a scratch
# folder; in practice a module of your package, named with ``rwtheory --plugin MODULE`` or
# declared as an entry point ``rwtheory_strategies``.
import sys
import tempfile
import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import rwtheory as rw

PLUGIN = '''
from rwtheory.weights.strategies import StrategyRecord, register_strategy


def softsquare(normalized, delta=1.0):
    """s = l~^2 / delta: up-weights both ends of the batch, more gently than Extremes."""
    return normalized**2 / delta


register_strategy(
    StrategyRecord("softsquare", softsquare, lambda delta: float(delta), formula="l~^2")
)
'''

folder = Path(tempfile.mkdtemp(prefix="rwtheory-plugin-"))
(folder / "my_strategies.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
sys.path.insert(0, str(folder))

import my_strategies  # noqa: E402,F401  (registers "softsquare")

losses = np.array([0.2, 0.5, 1.0, 2.5, 4.0])
print("softsquare weights:", np.round(rw.sample_weights(losses, "softsquare", 1.0), 4))
print("worst case of n max w over batches of 8 at r = 1:", rw.worst_case_rho("softsquare", 8, 1.0))

# %%
# In Figure 7
# -----------
# Figure 7 (clean test MSE of full-batch GD on the regression with outliers) runs every
# registered strategy beside the paper's four; its claims are still judged on the paper's.
# The quick configuration keeps this example short.
from rwtheory.experiments import fig7  # noqa: E402

result = fig7.build(quick=True)
summary = result.summary
for name, v in summary.strategies.items():
    print(f"{name:>10}: final clean test MSE {v.final:.4f}, final f - f* {v.train_final:.3g}")
print()
print(result.caption.split("Right: ")[1].split(" at r=")[0])
plt.show()

# %%
# In a robustness run
# -------------------
# The study's worker processes import the module through ``--plugin`` (the variable
# ``RWTHEORY_PLUGINS`` they inherit). The Figure 7 family records, per setting and per
# strategy, whether it speeds up the unweighted training objective and whether it improves
# the clean test MSE against uniform.
import csv  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402

out = folder / "study"
env = dict(
    os.environ,
    PYTHONPATH=os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")])),
)
run = subprocess.run(
    [sys.executable, "-m", "rwtheory", "--plugin", "my_strategies", "robustness"]
    + ["--grid", "quick", "--only", "fig7", "--out", str(out), "--workers", "2"],
    env=env,
    capture_output=True,
    text=True,
    check=True,
)
print(run.stdout.splitlines()[-1])
lines = [
    ln
    for ln in (out / "fig7_decomposition.csv").read_text(encoding="utf-8").splitlines()
    if not ln.startswith("#")
]
rows = [r for r in csv.DictReader(lines) if r["strategy"] == "softsquare"]
for r in rows:
    print(
        f"setting {r['setting']}: faster on training {r['faster_on_training']}, "
        f"better on clean test MSE {r['better_on_test']}"
    )

# %%
# Clean up
# --------
# The registry is per process: remove the strategy (and the scratch module) so that what
# runs after this example sees the package's own strategies only.
from rwtheory.weights.strategies import unregister_strategy  # noqa: E402

unregister_strategy("softsquare")
sys.modules.pop("my_strategies", None)
if str(folder) in sys.path:
    sys.path.remove(str(folder))
