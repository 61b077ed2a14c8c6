# Read by the `flask` command only. Secrets and per-machine settings go in .env.
FLASK_APP=wsgi
