"""What the server signs: the key ring (load, generate, rotate, JWKS) and RFC 9068 access tokens."""
