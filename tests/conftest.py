"""Fixtures shared across the suite live in tests/fixtures/, one module per area."""

from fixtures.server import *  # noqa: F401,F403
from fixtures.blender import *  # noqa: F401,F403
from fixtures.models import *  # noqa: F401,F403
from fixtures.clients import *  # noqa: F401,F403
from fixtures.faces import *  # noqa: F401,F403
from fixtures.expression import *  # noqa: F401,F403
from fixtures.liveportrait import *  # noqa: F401,F403
