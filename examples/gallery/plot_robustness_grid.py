"""
Your own robustness grid
========================

The paper lost most parameters of its regression experiments (n, d, the noise, the outliers'
law, the step size, the run length). The robustness study re-judges every empirical claim of
Figures 7-8 and App. A.4-A.5 with the claim's own status rule at every setting of a declared
grid. ``rwtheory robustness --grid FILE`` runs a grid of your own; this example writes a
small one, runs it through the same functions the command calls and reads the results.
"""

# %%
# A grid file
# -----------
# A grid file is one table of ``rwtheory/experiments/robustness_grids.toml`` at the top
# level: the shared axes, then each family's own axes. Every family needs every axis (the
# loader names any that is missing). ``settings_per_family`` settings are drawn uniformly
# from the product of the levels with ``sample_seed``; ``include_base = false`` skips the
# committed figures' own setting (which would need its levels on the axes).
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt

from rwtheory.experiments.robustness_grid import load_grid

GRID = """
seeds = 3
sample_seed = 7
settings_per_family = 4
include_base = false

[axes]
n_d = ["80x8", "40x30"]
noise = [0.1]
outlier_features = ["gaussian:1", "gaussian:10"]
outlier_targets = [1.0, 10.0]
lr = ["0.5/L"]
steps = [150]

[fig7]
outlier_fraction = [0.1, 0.2]
r = [1.0]

[fig8]
outlier_fraction = [0.25]
r = [1.0]
tau = [1.0]

[r_sensitivity]
outlier_fraction = [0.1]

[max_weight]
outlier_fraction = [0.1]
batch = [16]
tau = [1.0]
"""
work = Path(tempfile.mkdtemp(prefix="rwtheory-grid-"))
grid_file = work / "my_grid.toml"
grid_file.write_text(GRID, encoding="utf-8")
grid = load_grid(grid_file)
for setting in grid.settings("fig7"):
    print(setting.index, dict(setting.params))

# %%
# Run it
# ------
# The command runs the settings in worker processes (``--workers``; the outputs do not
# depend on their number), stores each finished chunk so that an interrupted study resumes,
# and writes the summary, one CSV file per family and the plots into ``--out``.
out = work / "study"
command = [sys.executable, "-m", "rwtheory", "robustness", "--grid", str(grid_file)]
command += ["--only", "fig7", "--workers", "1", "--out", str(out)]
print(" ".join(["rwtheory", *command[3:]]))
subprocess.run(command, check=True)
print(sorted(p.name for p in out.iterdir()))

# %%
# Read the verdicts
# -----------------
# ``summary.md`` says, per claim (here the first one), in how many settings it holds, with
# a Wilson interval for each share, and which parameter moves the verdict most.
summary = (out / "summary.md").read_text(encoding="utf-8")
print(summary[summary.index("## `fig7.linupper_fastest`") : summary.index("## `fig7.quadratic")])

# %%
# The diagnostic plot of the family
# ---------------------------------
image = plt.imread(out / "fig7.png")
fig, ax = plt.subplots(figsize=(8, 8 * image.shape[0] / image.shape[1]))
ax.imshow(image)
ax.set_axis_off()
fig.tight_layout()
plt.show()
