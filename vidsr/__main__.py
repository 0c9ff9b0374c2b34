"""`python -m vidsr` is the `vidsr` command."""

import sys

from vidsr.entry import console

sys.exit(console())
