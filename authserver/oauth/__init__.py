"""OAuth 2.0 wiring: Authlib's RFC modules filled in with authserver's models and session rules.

``server.py`` holds the single list of enabled grants and endpoints.
"""
