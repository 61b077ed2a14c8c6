"""The file mod_wsgi loads (WSGIScriptAlias), in daemon mode.

The virtual environment comes from ``python-home`` on WSGIDaemonProcess, so
nothing here names a Python version or a site-packages folder. The project is
found from this file's own location, and the project's ``.env`` is loaded by
the application factory. Touch this file to reload the app's processes.
"""

import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

from app import create_app  # noqa: E402
from config import ConfigError  # noqa: E402

try:
    application = create_app()
except ConfigError as error:
    # One readable line in Apache's error log before mod_wsgi's own report.
    print(f"flaskapp: configuration error: {error}", file=sys.stderr, flush=True)
    raise
