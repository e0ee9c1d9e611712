"""Read by gunicorn's master from its working folder (the repository, or /app in
the image) before it forks: a bad setting stops `gunicorn 'api:create_app()'`
here, with one line and exit status 3, instead of in every worker at once
(gunicorn 27 can then print a traceback while it halts). Settings are read again
in each worker by create_app; nothing else is configured here."""

import os

from vaporforge.settings import Settings

Settings.for_process(os.environ)
