"""The app's :class:`perfhud.settings.Settings`, as handed to :func:`dashboard.create_app`."""

from __future__ import annotations

from flask import current_app

from perfhud.settings import Settings

SETTINGS_KEY = "PERFHUD_SETTINGS"


def settings() -> Settings:
    return current_app.config[SETTINGS_KEY]
