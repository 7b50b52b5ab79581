"""``python -m symdl.fuzz --graphs N --seed S [--backends py,c] [--timeout SECONDS] [--jobs J]``."""

import sys

from symdl.fuzz.cli import main

sys.exit(main())
