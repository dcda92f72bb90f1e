"""``python -m rwtheory COMMAND ...``: the ``rwtheory`` command line (:mod:`rwtheory.cli`)."""

import sys

from rwtheory.cli import main

sys.exit(main())
