"""Third-party OAuth client libraries against a live authserver (see README.md)."""
