"""``python -m symdl.fuzz --graphs N --seed S [--backends py,c] [--timeout SECONDS] [--jobs J]``."""

import sys

from symdl.fuzz.cli import main

if __name__ == "__main__":  # importing the module (pkgutil walks every module) runs nothing
    sys.exit(main())
