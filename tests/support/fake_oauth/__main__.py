"""``python -m tests.support.fake_oauth``: the fake sign-in service as a command."""

import sys

from tests.support.fake_oauth.server import main

sys.exit(main())
