"""GraphQL execution machinery: context, auth, limits, live delivery, audit, error shaping."""
