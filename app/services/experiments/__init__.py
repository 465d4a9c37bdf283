"""A/B tests of model versions and the predictions they route."""
