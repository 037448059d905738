"""Helpers of the API tests (a module of its own: every test folder has a conftest)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lofi.settings import Settings


def make_settings(home: Path, model: Path, **overrides) -> Settings:
    return Settings(home=home, default_model=model, **overrides)


def wait_job(client: TestClient, job_id: str, timeout_s: float = 300.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        job = client.get(f"/api/v1/jobs/{job_id}").json()
        if job["state"] in ("done", "failed", "cancelled"):
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} still {job['state']} after {timeout_s} s")
        time.sleep(0.2)
