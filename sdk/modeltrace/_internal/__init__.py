"""Implementation details of modeltrace; nothing here is public API."""
