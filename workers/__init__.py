"""The ARQ layer: worker settings and task functions, thin wrappers over ``app.services``."""
