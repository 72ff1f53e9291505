"""Pydantic models: domain objects stored by dal/, and (later) API bodies."""
