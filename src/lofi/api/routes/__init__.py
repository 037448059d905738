"""One router per resource, each with the full /api/v1 prefix (so route templates name the whole path)."""

API_PREFIX = "/api/v1"
