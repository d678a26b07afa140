"""Jobs go through a real Redis: the configured one, or the embedded server a process starts."""

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue, SimpleWorker

from casedb.broker import EmbeddedRedis, connect


def test_an_rq_job_runs_through_the_broker(redis_connection):
    queue = Queue("default", connection=redis_connection)
    job = queue.enqueue("casedb.delinquency.bucket_for", 45)
    SimpleWorker([queue], connection=redis_connection).work(burst=True)
    job.refresh()
    assert job.is_finished
    assert job.return_value() == "M2"


def test_an_embedded_server_stops_with_its_owner_even_with_clients_connected(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis.db")
    client = connect(server.url)
    client.set("case:1", "locked")
    assert client.get("case:1") == b"locked"
    server.stop()
    with pytest.raises(RedisConnectionError):
        connect(server.url).ping()
