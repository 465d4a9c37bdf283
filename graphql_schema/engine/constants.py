"""Sizes shared by the schema's extensions."""

#: Distinct documents kept parsed, validated and measured; clients send few distinct operations many times.
DOCUMENT_CACHE_SIZE = 1_024
