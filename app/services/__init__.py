"""Use cases. Each is a module-level ``async def op(session, ...)``; the caller owns the transaction.

The GraphQL resolvers, the ARQ tasks and the CLI all call these, so every rule lives here once.
"""
