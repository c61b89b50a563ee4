"""``perfhud web``: the development server. Production runs ``gunicorn 'dashboard.wsgi:app'``."""

from __future__ import annotations

import click


@click.command("web")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--debug/--no-debug", default=False, show_default=True, help="Reload on change and show tracebacks.")
def web(host: str, port: int, debug: bool) -> None:
    """Serve the dashboard with Flask's development server."""
    from perfhud.cli import settings_or_exit

    from dashboard import create_app

    app = create_app(settings_or_exit())
    app.run(host=host, port=port, debug=debug, threaded=True)
