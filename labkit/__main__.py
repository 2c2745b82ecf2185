"""`python -m labkit` (and `torchrun ... -m labkit train ...`): the labkit command line."""
import sys

from labkit.cli import main

sys.exit(main())
