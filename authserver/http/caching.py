"""What public, rarely changing documents may be cached for (``Cache-Control: public, max-age``):
the RFC 8414 metadata and the API description, and the JWKS for as long as its setting says."""

from __future__ import annotations

# Metadata and /openapi.json change only with a new release or configuration.
DOCUMENT_MAX_AGE_SECONDS = 300


def cacheable(response, max_age_seconds: int = DOCUMENT_MAX_AGE_SECONDS):
    response.cache_control.public = True
    response.cache_control.max_age = max_age_seconds
    return response
