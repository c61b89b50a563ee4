"""perfhud's web app: the GitHub webhook, the HUD and its pages, and the JSON API.

Built by :func:`create_app`; one blueprint per concern. Every asset is served by the app itself
(plotly.js from the installed plotly package), so the pages work with no internet access.
"""

from __future__ import annotations

import logging

from flask import Flask

from perfhud.settings import Settings, load_settings

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> Flask:
    """The Flask app for ``settings`` (default: from the environment)."""
    from dashboard import alerts, api, assets, commits, health, hosts, hud, series, webhooks
    from dashboard.errors import register_error_handlers
    from dashboard.publishing import init_relay
    from dashboard.settings_access import SETTINGS_KEY
    from dashboard.store import init_store
    from dashboard.template_helpers import register_template_helpers

    settings = settings if settings is not None else load_settings()
    app = Flask(__name__)
    app.config[SETTINGS_KEY] = settings
    app.config["JSON_SORT_KEYS"] = False
    # The webhook sets its own limit per request; everything else (API writes, pages) is small.
    app.config["MAX_CONTENT_LENGTH"] = settings.webhook_max_body
    init_store(app, settings.database_url)
    init_relay(app, settings)
    register_error_handlers(app)
    register_template_helpers(app)
    for blueprint in (hud.bp, series.bp, commits.bp, alerts.bp, hosts.bp, api.bp, webhooks.bp, assets.bp, health.bp):
        app.register_blueprint(blueprint)
    logging.getLogger("dashboard").setLevel(logging.INFO)
    return app
