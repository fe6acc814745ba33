"""tariff audit commands (being written)."""
from . import app  # noqa: F401
