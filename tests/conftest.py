"""Fixtures shared across the suite live in tests/fixtures/, one module per area."""

import sys

from fixtures.server import *  # noqa: F401,F403
from fixtures.blender import *  # noqa: F401,F403
from fixtures.models import *  # noqa: F401,F403
from fixtures.clients import *  # noqa: F401,F403
from fixtures.faces import *  # noqa: F401,F403
from fixtures.expression import *  # noqa: F401,F403
if sys.version_info >= (3, 11):  # server-side models; the client tests also run under Python 3.9 and 3.10
    from fixtures.liveportrait import *  # noqa: F401,F403
