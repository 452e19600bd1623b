"""Errors a user can cause and fix: the CLI prints them as one line, never a traceback."""


class CamidError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class RegistryError(CamidError):
    """A camera registry file is malformed; the message names the file, entry and field."""


class ConfigError(CamidError):
    """A setting (catalog URL, data directory, policy) is unusable."""
