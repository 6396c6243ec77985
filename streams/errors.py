"""The errors the product reports, with what its operators and callers need to act."""


class EngageError(Exception):
    """Base of the product's own errors."""


class ConfigurationError(EngageError):
    """Settings or the tenant file are unusable; the message says which and why."""


class QueryRefused(EngageError, ValueError):
    """A read query that cannot be answered as asked (the web routes answer 400)."""


class QueryForbidden(EngageError):
    """A read the asking identity may not make; answered alike whether or not what it names
    exists (the web routes answer 403)."""


class EngineProcessGone(EngageError):
    """The worker's engine process exited while the worker still needed it."""


class WorkerStateUnavailable(EngageError):
    """The broker holding the workers' state cannot be reached."""


class DeliveryRefused(EngageError):
    """The receiving end of a digest answered, but refused it."""
