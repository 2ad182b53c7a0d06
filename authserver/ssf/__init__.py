"""Shared Signals Framework 1.0: security events (RFC 8417 SETs: CAEP, RISC) pushed to receivers' streams
(RFC 8935) through the outbox, and the streams' management API and commands."""
