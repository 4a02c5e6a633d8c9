"""A starting instance waits a while for a database it cannot reach yet (issue 16): started
during a failover, HAProxy may still send it to the node that died, and the instance used to
exit at once ("Cannot reach MySQL"). Over a real TCP proxy in front of the test database."""

from __future__ import annotations

import asyncio
import time

import pymysql
import pytest

from domain.db import Database, DatabaseUrl
from tests.conftest import TestDatabase
from tests.reliability_support import TcpProxy
from tests.test_domain_retry_policy import select_one


def through(proxy: TcpProxy, url: DatabaseUrl) -> DatabaseUrl:
    return DatabaseUrl(url.user, url.password, "127.0.0.1", proxy.port, url.database)


async def test_a_database_that_comes_back_within_the_wait_is_connected_to(
    test_database: TestDatabase,
) -> None:
    async with TcpProxy(test_database.admin.host, test_database.admin.port) as proxy:
        url = through(proxy, test_database.admin)
        await proxy.cut()  # the port refuses connections, as a dead node's does
        starting = asyncio.create_task(Database.connect_when_reachable(url, within=10))
        await asyncio.sleep(1.0)
        assert not starting.done()  # still waiting, not failed
        await proxy.restore()
        db = await asyncio.wait_for(starting, 10)
        try:
            assert await db.transaction(select_one) == 1
            assert proxy.accepted >= 1
        finally:
            await db.close()


async def test_a_database_still_away_after_the_wait_is_the_connection_error(
    test_database: TestDatabase,
) -> None:
    async with TcpProxy(test_database.admin.host, test_database.admin.port) as proxy:
        url = through(proxy, test_database.admin)
        await proxy.cut()
        started = time.monotonic()
        with pytest.raises(pymysql.err.OperationalError) as failed:
            await Database.connect_when_reachable(url, within=1.0)
        assert 0.5 <= time.monotonic() - started < 5
        assert failed.value.args[0] == 2003


async def test_a_refused_password_is_not_waited_for(test_database: TestDatabase) -> None:
    admin = test_database.admin
    wrong = DatabaseUrl(admin.user, admin.password + "x", admin.host, admin.port, admin.database)
    started = time.monotonic()
    with pytest.raises(pymysql.err.OperationalError) as failed:
        await Database.connect_when_reachable(wrong, within=10)
    assert failed.value.args[0] == 1045
    assert time.monotonic() - started < 2
