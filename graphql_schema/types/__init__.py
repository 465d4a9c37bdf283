"""GraphQL object types, each built from a service's domain row by ``from_row``."""
