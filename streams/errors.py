"""Errors the engine reports to its operators, with what they need to act."""


class EngineError(Exception):
    """Base of the engine's own errors."""


class ConfigurationError(EngineError):
    """Settings or the tenant file are unusable; the message says which and why."""
