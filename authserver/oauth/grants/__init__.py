"""The token endpoint's grants (RFC 6749 §4 and extensions), one module each, on Authlib's grant classes."""
