"""The OAuth endpoints other than the token endpoint's grants, one module each, on Authlib's endpoint classes."""
