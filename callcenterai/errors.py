"""Errors a user can act on. Their message is one line that says what is wrong and what to do."""


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class CallCenterAIError(Exception):
    """Base class: the command line prints the message, without a traceback, and exits non-zero."""


class DataError(CallCenterAIError):
    """The input data cannot be used as it is (missing file or columns, bad encoding, no rows)."""


class ModelNotFoundError(CallCenterAIError):
    """No model at the given path or registry URI, or it is not a CallCenterAI model."""


class UnsafeModelError(ModelNotFoundError):
    """A model artifact in a format that can run code when read (pickle, a foreign skops type,
    a custom loader): refused before it is read."""


class RegistryError(CallCenterAIError):
    """The MLflow registry does not hold what an operation needs (e.g. no staging version)."""


class ConfigurationError(CallCenterAIError):
    """The runtime settings contradict each other or leave a service unsafe to start."""


class BatchError(CallCenterAIError):
    """A batch job that failed while it ran (a worker died); nothing was written."""


class OutputError(CallCenterAIError):
    """An output path cannot be written without destroying something that is not ours."""
