"""The file mod_wsgi loads (WSGIScriptAlias), in daemon mode.

The virtual environment comes from ``python-home`` on WSGIDaemonProcess, so
nothing here names a Python version or a site-packages folder, and the project
folder comes from ``python-path``. The project's ``.env`` is read by the config.
Touch this file to reload the app's processes.
"""

import sys

from app import create_app
from app.server_memory import fix_mmap_threshold
from app.warm_up import freeze_start_objects, warm_up
from config import ConfigError

# Before the app allocates anything: a daemon runs for days (app/server_memory.py).
fix_mmap_threshold()
try:
    # Production unless FLASK_CONFIG says otherwise (config.default_config_name).
    application = create_app()
    # mod_wsgi loads this file when a daemon process starts (WSGIScriptAlias
    # names its process-group and application-group): build what the first
    # requests would otherwise wait for.
    warm_up(application)
    freeze_start_objects()
except ConfigError as error:
    # One readable line in Apache's error log before mod_wsgi's own report.
    print(f"flaskapp: configuration error: {error}", file=sys.stderr, flush=True)
    raise
