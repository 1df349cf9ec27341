import sys

from victor_core.cli import main

sys.exit(main())
