"""What every command needs from the CLI's global options: settings and the camera registry."""

from __future__ import annotations

import click

from pipeline.registry import Registry
from pipeline.settings import Settings, resolve_settings


def settings_of(ctx: click.Context) -> Settings:
    """The resolved --catalog/--data-dir/--registry (or their environment variables)."""
    return ctx.find_object(Settings) or resolve_settings()


def registry_of(ctx: click.Context) -> Registry:
    from pipeline.registry_load import load_registry

    return load_registry(settings_of(ctx).registry_path)

