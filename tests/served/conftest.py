"""The served suite: ``customer-groups serve`` (gunicorn, 2 workers) over real HTTP.

One server per module (a server takes seconds to start; a test takes milliseconds), on
SQLite or, when ``CUSTOMER_GROUPS_TEST_DATABASE_URL`` is set, on a second PostgreSQL
database of its own (``tests/served/server.py`` says why). Tests within a module share
the server and its data, so each works with names and ids of its own.

Fixtures:
- ``serve(**settings)``: starts a server with extra ``CUSTOMER_GROUPS_*`` settings on a
  fresh database (module scope; stopped at the end of the module);
- ``server``: one started with the defaults below, the shop ``SHOP`` installed.
Every test here is marked ``served``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.served.server import Server, free_port, served_database_url, server_environment

#: Settings of every served app here: vendor and events endpoints are local test
#: servers, and background work is looked for often so that tests wait less.
DEFAULT_SETTINGS = {
    "CUSTOMER_GROUPS_ALLOW_PRIVATE_BASE_URLS": "1",
    "CUSTOMER_GROUPS_JOB_POLL_SECONDS": "0.2",
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "served: drives `customer-groups serve` (gunicorn) over real HTTP"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.served)


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(**settings: str) -> Server:
        directory = tmp_path_factory.mktemp("served")
        env = server_environment(
            served_database_url(directory), **{**DEFAULT_SETTINGS, **settings}
        )
        server = Server(env, free_port(), directory / "server.log")
        server.upgrade()
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def server(serve: Callable[..., Server]) -> Server:
    started = serve()
    started.install()
    return started
