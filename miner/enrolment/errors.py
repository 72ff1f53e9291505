"""What can go wrong while enrolling a rig or loading its bundle, and the exit codes."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1  # the platform or the network failed, or refused
EXIT_USAGE = 2  # bad input: flags, files, keys, an existing bundle


class EnrollError(Exception):
    """Enrolment (or loading a bundle) failed; ``str()`` says why and what to do."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EnrollInputError(EnrollError):
    """Bad input: a flag, a URL, a key, a file, an existing bundle (exit code 2)."""

    exit_code = EXIT_USAGE


class PlatformError(EnrollError):
    """The platform API could not be reached, refused, or answered something unexpected."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class BundleError(EnrollInputError):
    """A certificate bundle that is missing, incomplete, corrupt, unsafe, or in the way."""
