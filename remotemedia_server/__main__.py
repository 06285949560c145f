"""``python -m remotemedia_server``: runs the server (same as ``remotemedia serve``)."""

import sys

from remotemedia_server.app import main

sys.exit(main())
