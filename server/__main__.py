"""`python -m framebridge.server` is the `framebridge` command."""

import sys

from .cli import main

sys.exit(main())
