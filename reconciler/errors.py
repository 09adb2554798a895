"""The exception tree. Each error builds one actionable sentence; `cli` turns them into
output in one place. No message may ever contain the access token: API errors are built
from the method, the path and the response body, never from request headers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from reconciler.model import Problem


class ReconcilerError(Exception):
    """Base of every error the user should see as a sentence, not a traceback."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(ReconcilerError):
    """The config is invalid; `problems` holds every finding, each with file and line."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        errors = [p for p in self.problems if p.is_error]
        first = str(errors[0]) if errors else "invalid configuration"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(first + more)


class SettingsError(ReconcilerError):
    """A missing or wrong setting: store hash, token, API URL."""


class SegmentNotFoundError(ReconcilerError):
    """A declared segment does not exist in the store."""


class UnsafeRequestError(ReconcilerError):
    """A request that could destroy data was about to be built (e.g. a DELETE without ids).
    Raised before anything is sent."""


class NetworkError(ReconcilerError):
    """The API could not be reached, or the connection dropped, after all retries."""


class RetriesExhaustedError(ReconcilerError):
    """Rate limiting or server errors outlasted the retry budget."""


class ApiError(ReconcilerError):
    """An HTTP error response from the API."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str,
        path: str,
        item_errors: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.method = method
        self.path = path
        self.item_errors: dict[str, str] = dict(item_errors or {})


class AuthenticationError(ApiError):
    """401: the token was rejected."""


class PermissionDeniedError(ApiError):
    """403: the token lacks a scope (or the plan lacks the feature)."""


class NotFoundError(ApiError):
    """404: the store or the segment does not exist."""


class ConflictError(ApiError):
    """409: e.g. adding a profile that is already a member."""


class UnprocessableError(ApiError):
    """400/422: the API refused some items; `item_errors` says which and why."""


class MalformedResponseError(ApiError):
    """A success status whose body is not what the API documents (no `data` list, a row
    without its id): handled like any other API error, never trusted half-way."""


class PlanFileError(ReconcilerError):
    """A saved plan is unreadable, corrupt, for another store or from an incompatible version."""


class StalePlanError(ReconcilerError):
    """The store changed since the saved plan was made; nothing was written."""


class GuardError(ReconcilerError):
    """The removal guard refused the plan before any write."""


class ApplyFailedError(ReconcilerError):
    """Apply finished with failures; the report has the details."""


class StoppedError(ReconcilerError):
    """A request not sent, or not retried, because an apply is stopping (Ctrl-C):
    `sent` says whether an earlier attempt of it went out, `status` what the last one was
    answered (None: no answer came, so a write may have been made)."""

    def __init__(self, message: str, *, sent: bool, status: int | None = None) -> None:
        super().__init__(message)
        self.sent = sent
        self.status = status


class ApplyInterruptedError(ReconcilerError):
    """Apply was interrupted by a signal after finishing in-flight requests."""

    exit_code = 130
