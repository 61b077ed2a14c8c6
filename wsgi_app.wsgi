"""The file mod_wsgi loads (WSGIScriptAlias), in daemon mode.

The virtual environment comes from ``python-home`` on WSGIDaemonProcess, so
nothing here names a Python version or a site-packages folder, and the project
folder comes from ``python-path``. The project's ``.env`` is read by the config.
Touch this file to reload the app's processes.
"""

import sys

from app import create_app
from config import ConfigError, config_name_from_env

try:
    # Apache serves the public site: production unless FLASK_CONFIG says otherwise,
    # so a forgotten setting never falls back to development's published secret.
    application = create_app(config_name_from_env(default="production"))
except ConfigError as error:
    # One readable line in Apache's error log before mod_wsgi's own report.
    print(f"flaskapp: configuration error: {error}", file=sys.stderr, flush=True)
    raise
