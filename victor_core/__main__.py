"""``python -m victor_core`` is ``victor``."""

import sys

from victor_core.cli import main

if __name__ == "__main__":
    sys.exit(main())
