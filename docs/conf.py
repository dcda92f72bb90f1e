"""Sphinx configuration of the rwtheory documentation.

Build: ``python -m sphinx -W --keep-going -b html docs docs/_build/html`` from the repository
root (needs the ``docs`` extra). Every number the pages show is read at build time from the
artifacts the project's own commands write (see ``docs/_ext/rwdocs.py`` and the contributing
page); the examples of ``examples/gallery/`` run during the build.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import rwdocs  # noqa: E402  (docs/_ext, put on the path above)

#: The repository whose artifacts the pages read. A build of a copy of docs/ (the test
#: builds one in a temporary folder) names it with RWTHEORY_DOCS_ROOT.
ROOT = Path(os.environ.get("RWTHEORY_DOCS_ROOT", HERE.parent)).resolve()
rwdocs.ROOT = ROOT

project = "rwtheory"
author = "the rwtheory developers"
copyright = "the rwtheory developers"  # the name Sphinx reads
release = version = rwdocs.package_version(ROOT)

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx_gallery.gen_gallery",
    "sphinx_copybutton",
    "sphinx-mathjax-offline",  # MathJax served from the site itself: no network at view time
    "rwdocs",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build", "_generated", "Thumbs.db", ".DS_Store", "**/README.md"]
templates_path: list[str] = []

myst_enable_extensions = ["dollarmath", "substitution", "colon_fence", "deflist"]
myst_heading_anchors = 3
#: Values read from the artifacts (paper_checks.json, figures/*.csv, pyproject.toml) at build
#: time: ``{{ ledger.counts.total }}`` in a page is the ledger's count, never a typed number.
myst_substitutions = rwdocs.substitutions(ROOT)

#: The members of each page are listed by docs/_ext/rwdocs.py (a module's own public names;
#: re-exported names link to the module that defines them).
autodoc_default_options = {"show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_mock_imports: list[str] = []
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_ivar = True  # dataclass fields are documented once, by their Attributes section

sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples" / "gallery"),
    "gallery_dirs": "examples",
    "filename_pattern": r"/plot_",  # every example runs at build time
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "show_memory": False,
    "write_computation_times": False,  # its pages load jQuery from a CDN: the site stays offline
    "default_thumb_file": None,
}

html_theme = "furo"
html_title = "rwtheory"
html_static_path: list[str] = []
html_show_sourcelink = False
nitpicky = False
