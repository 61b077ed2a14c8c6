"""The WSGI entry point: ``flask --app wsgi ...`` and any WSGI server import ``app`` from here."""

from app import create_app
from config import ConfigError

try:
    app = create_app()
except ConfigError as error:
    # One line naming the setting, not a traceback.
    raise SystemExit(f"Configuration error: {error}") from None
