"""/openapi.json: the OpenAPI 3.1 description of every endpoint, declared beside the views."""
