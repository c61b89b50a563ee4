"""The WSGI entry point for production: ``gunicorn 'dashboard.wsgi:app'``.

Settings come from the environment; a bad value stops the worker at import with the variable's
name, before it accepts a request.

Everything built at start-up (modules, the app, SQLAlchemy's mappers) lives as long as the
process; ``gc.freeze()`` moves it out of the collector's sight, so the full collections that a
request building tens of thousands of objects sets off do not walk it again and again (and,
with ``--preload``, forked workers keep sharing those pages instead of copying them).
"""

import gc

from dashboard import create_app

app = create_app()
gc.freeze()
