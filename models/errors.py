"""Domain errors: each carries a message fit to show a user (a 4xx body, a console flash)."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal by a domain operation; nothing was changed when it is raised."""

    code = "domain_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationError(DomainError):
    """An input value is malformed (too long, control characters, unknown code...)."""

    code = "invalid"


class NotFound(DomainError):
    """The object named does not exist (or is not visible to the caller)."""

    code = "not_found"


class TransitionRefused(DomainError):
    """The ticket lifecycle does not allow this transition from the current status."""

    code = "transition_refused"


class ClaimConflict(DomainError):
    """Another holder has a live lease on the ticket."""

    code = "claim_conflict"


class LeaseExpired(DomainError):
    """The caller's lease has expired or was never held; the late action is refused."""

    code = "lease_expired"


class DispatchRefused(DomainError):
    """The worker cannot take this job (off duty, lacking the skill, ...)."""

    code = "dispatch_refused"


class InsufficientPoints(DomainError):
    """A redemption larger than the balance."""

    code = "insufficient_points"
