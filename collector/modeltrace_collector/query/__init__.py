"""The read side: services that answer questions over the stored data (user SQL first)."""
