"""The WSGI entry point for production: ``gunicorn 'dashboard.wsgi:app'``.

Settings come from the environment; a bad value stops the worker at import with the variable's
name, before it accepts a request.
"""

from dashboard import create_app

app = create_app()
