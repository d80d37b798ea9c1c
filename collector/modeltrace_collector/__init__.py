"""The modeltrace collector: receives OTLP, stores spans in ClickHouse, analyses them.

This is a skeleton: the service itself arrives with the collector issue. Importing
``modeltrace`` never imports this package.
"""

from modeltrace.version import __version__

__all__ = ["__version__"]
