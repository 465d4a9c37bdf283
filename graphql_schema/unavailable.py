"""Contract operations whose capability has not landed yet, in one explicit list that only shrinks.

They exist in the schema from the start so clients can code against the whole contract; until their
capability is built they answer ``NOT_IMPLEMENTED`` with a message naming what is missing, never a
made-up result.
"""

from __future__ import annotations

from app.errors import NotAvailableYet

PENDING_OPERATIONS: dict[str, str] = {
    "Mutation.checkDrift": "drift monitoring",
    "Mutation.startAbTest": "A/B testing",
    "Mutation.stopAbTest": "A/B testing",
    "Mutation.predict": "prediction serving",
    "Mutation.createApiToken": "access control",
    "Subscription.trainingJobUpdates": "live updates",
    "Subscription.alertRaised": "live updates",
}


def not_available(operation: str) -> NotAvailableYet:
    capability = PENDING_OPERATIONS[operation]
    field = operation.split(".", 1)[1]
    return NotAvailableYet(f"{field} is not available yet: {capability} is not part of this release", field=field)
