"""Domain errors. Each carries the CLI exit code of docs/cli.md and a one-line message that
names the file, key, column or value at fault and says what to do."""

from __future__ import annotations


class AugmentError(Exception):
    """Base class; exit code 1 (anything else)."""

    exit_code = 1
    retryable = False


class ConfigError(AugmentError):
    """A config, suite, thesaurus or CLI argument is invalid. Exit code 2."""

    exit_code = 2


class InputError(AugmentError):
    """The source data cannot be used as configured. Exit code 2; nothing is published."""

    exit_code = 2


class GateFailed(AugmentError):
    """The quality gate failed; the output was quarantined. Exit code 3."""

    exit_code = 3

    def __init__(self, message: str, report_uri: str | None = None) -> None:
        super().__init__(message)
        self.report_uri = report_uri


class StorageError(AugmentError):
    """The store could not be read or written. Transient ones are retried by Airflow."""

    exit_code = 1

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class NotFound(AugmentError):
    """A dataset, version or key does not exist. Exit code 2."""

    exit_code = 2


class ContractError(AugmentError):
    """A manifest or gate report cannot be read: damaged, or an unsupported schema_version. Exit code 2."""

    exit_code = 2
