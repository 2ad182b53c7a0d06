"""Clients that register themselves: dynamic registration (RFC 7591) and its management (RFC 7592) on
Authlib's endpoints, and Client ID Metadata Documents. The rules below HTTP are ``accounts/registration.py``."""
