"""Generates the Python client from openapi/openapi.json into a temporary
directory before the tests are collected (it is never committed), and gives the
tests the server under test."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SPEC = HERE.parent.parent / "openapi" / "openapi.json"
PACKAGE = "dream_client"

_generated: Path | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _generated
    _generated = Path(tempfile.mkdtemp(prefix="dream-python-client-"))
    generator = Path(sys.executable).with_name("openapi-python-client")
    command = [
        str(generator),
        "generate",
        "--path",
        str(SPEC),
        "--output-path",
        str(_generated / PACKAGE),
        "--meta",
        "none",
        "--config",
        str(HERE / "opc.yaml"),
        "--fail-on-warning",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise pytest.UsageError(
            "openapi-python-client failed on openapi/openapi.json:\n" + done.stdout + done.stderr
        )
    sys.path.insert(0, str(_generated))
    importlib.invalidate_caches()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _generated is not None:
        shutil.rmtree(_generated, ignore_errors=True)


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(f"{name} is not set: run through scripts/clients-test, or export it")
    return value


@pytest.fixture(scope="session")
def base_url() -> str:
    return _required("DREAM_URL")


@pytest.fixture(scope="session")
def admin_token() -> str:
    return _required("DREAM_ADMIN_TOKEN")


@pytest.fixture
def new_tenant(base_url: str, admin_token: str):
    """Creates a platform with the seed tiers (free: 2 calls, pro: 10); returns its secret key."""
    from dream_client import AuthenticatedClient
    from dream_client.api.admin import create_products
    from dream_client.models import CreateProductsRequest, CreateProductsResponse, ModeDto, TierInput

    def make() -> str:
        with AuthenticatedClient(base_url=base_url, token=admin_token) as admin:
            reply = create_products.sync_detailed(
                client=admin,
                body=CreateProductsRequest(
                    mode=ModeDto.TEST,
                    tiers=[
                        TierInput(name="free", price=0, limit=2),
                        TierInput(name="pro", price=29, limit=10),
                    ],
                ),
            )
        assert reply.status_code == 200, reply.content
        assert isinstance(reply.parsed, CreateProductsResponse)
        assert isinstance(reply.parsed.secret_key, str)
        return reply.parsed.secret_key

    return make


@pytest.fixture
def client_for(base_url: str):
    """A generated client authenticated with a secret key."""
    from dream_client import AuthenticatedClient

    opened = []

    def make(secret_key: str) -> AuthenticatedClient:
        client = AuthenticatedClient(base_url=base_url, token=secret_key, raise_on_unexpected_status=True)
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.get_httpx_client().close()
