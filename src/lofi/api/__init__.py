"""The HTTP API and the web dashboard: `create_app` builds the FastAPI app that `lofi serve` runs."""

from lofi.api.app import create_app

__all__ = ["create_app"]
