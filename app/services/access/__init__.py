"""API tokens and the audit trail."""
