"""The Strawberry layer: thin types and resolvers over ``app.services``.

A resolver parses its arguments, calls one service function in a short session, and maps the result.
"""
