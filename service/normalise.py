"""Moved to the ``service.read`` package (issue 12); this name stays for code written against it."""

from service.read import Normaliser, to_date, validate_resource

__all__ = ["Normaliser", "to_date", "validate_resource"]
