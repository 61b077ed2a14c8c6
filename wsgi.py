"""The WSGI entry point: ``flask --app wsgi ...`` and any WSGI server import ``app`` from here.

Served by a WSGI server (gunicorn ``wsgi:app``, say) the app is in production
unless FLASK_CONFIG says otherwise; the ``flask`` command defaults to development
(config.default_config_name decides both).
"""

from app import create_app
from config import ConfigError

try:
    app = create_app()
except ConfigError as error:
    # One line naming the setting, not a traceback.
    raise SystemExit(f"Configuration error: {error}") from None
