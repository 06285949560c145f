"""Built-in nodes. Each registers under its class name; see ``rm.list_nodes()``."""

from remotemedia.nodes.audio import *  # noqa: F401,F403
from remotemedia.nodes.audio_io import *  # noqa: F401,F403
from remotemedia.nodes.clip import *  # noqa: F401,F403
from remotemedia.nodes.features import *  # noqa: F401,F403
from remotemedia.nodes.ml import *  # noqa: F401,F403
from remotemedia.nodes.text import *  # noqa: F401,F403
from remotemedia.nodes.utility import *  # noqa: F401,F403
from remotemedia.nodes.vad import *  # noqa: F401,F403
from remotemedia.nodes.video import *  # noqa: F401,F403
