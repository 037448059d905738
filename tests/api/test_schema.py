"""The served OpenAPI schema: valid OpenAPI 3.1, naming every error a route answers; and schemathesis
against it: whatever it sends, the server never answers 5xx."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from openapi_spec_validator import validate

from api_helpers import make_settings, serving
from lofi.api import create_app


@pytest.fixture(scope="module")
def base_url(tmp_path_factory, tiny_checkpoint):
    """The app on loopback, without workers: generated jobs stay queued, the API is what is tested."""
    home = tmp_path_factory.mktemp("schema-home")
    app = create_app(make_settings(home, Path(tiny_checkpoint.path), rate_limit="100000/minute"), start_workers=False)
    with serving(app) as url:
        yield url


def test_no_request_makes_the_server_fail(base_url, tmp_path):
    """The schemathesis command, as a user would run it, with only the "no 5xx" check."""
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")), "run", f"{base_url}/api/v1/openapi.json",
            "--checks", "not_a_server_error", "--max-examples", "30", "--no-color",
            "--phases", "examples,coverage,fuzzing",
        ],
        capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path,  # its cache stays out of the repo
    )  # fmt: skip
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-4000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", report)
    assert generated and int(generated[1]) > 100 and generated[1] == generated[2], report[-2000:]


def test_the_schema_is_valid_openapi_3_1_and_names_the_errors(base_url):
    schema = httpx.get(f"{base_url}/api/v1/openapi.json", timeout=30).json()
    assert schema["openapi"].startswith("3.1")
    validate(schema)  # against the OpenAPI 3.1 meta-schema

    def tuples(node) -> list:  # `items: [...]` is OpenAPI 3.0's draft-4 tuple; 3.1 says prefixItems
        if isinstance(node, dict):
            found = [node] if isinstance(node.get("items"), list) else []
            return found + [t for value in node.values() for t in tuples(value)]
        return [t for value in node for t in tuples(value)] if isinstance(node, list) else []

    assert tuples(schema) == []
    documented = {
        ("post", "/api/v1/generate"): {"202", "400", "401", "422", "429", "503"},
        ("get", "/api/v1/jobs/{job_id}"): {"200", "404", "503"},
        ("delete", "/api/v1/jobs/{job_id}"): {"200", "401", "404", "409", "429", "503"},
        ("get", "/api/v1/tracks"): {"200", "422", "503"},
        ("get", "/api/v1/tracks/{track_id}"): {"200", "404", "503"},
        ("get", "/api/v1/tracks/{track_id}/files/{name}"): {"200", "206", "304", "400", "404", "416", "503"},
        ("get", "/api/v1/tracks/{track_id}/preview.jpg"): {"200", "304", "404", "503"},
        ("get", "/api/v1/download/{filename}"): {"200", "206", "304", "400", "404", "416", "503"},
        ("get", "/api/v1/health"): {"200"},  # the probes are never turned away (lofi.api.overload)
    }
    for (method, path), codes in documented.items():
        assert codes <= set(schema["paths"][path][method]["responses"]), (method, path)
    assert "503" not in schema["paths"]["/api/v1/health"]["get"]["responses"]
    for method, path, code in [("post", "/api/v1/generate", "429"), ("get", "/api/v1/tracks", "503")]:
        assert "Retry-After" in schema["paths"][path][method]["responses"][code]["headers"]


KEYS = ["D minor", "Dm", "DM", "Bb major", "F#", "A dorian", " g  harmonic_minor ", "C♯ MIXOLYDIAN", "Ebm"]
NOT_KEYS = ["H", "Bblues", "dorian", "D #", "__main__", "C major!", "", "Dmajorr"]


def test_the_documented_key_pattern_is_what_the_server_accepts(base_url):
    """A fuzzer that sends strings of the pattern gets 202, and strings outside it 422."""
    schema = httpx.get(f"{base_url}/api/v1/openapi.json", timeout=30).json()
    pattern = re.compile(schema["components"]["schemas"]["GenerateRequest"]["properties"]["key"]["pattern"])
    for key in KEYS + NOT_KEYS:
        answer = httpx.post(f"{base_url}/api/v1/generate", json={"mood": "chill", "key": key}, timeout=30)
        assert answer.status_code == (202 if pattern.search(key) else 422), key
        assert (key in KEYS) == bool(pattern.search(key)), key
