"""The cluster harness itself: three real serve processes on one fresh database, posts, kill -9."""

from tests.support.botapi_stub import BotApiStub
from tests.support.serve_cluster import SECRET, TOKEN, ServeCluster, fresh_database

MENU = "menu.start.quote"  # the /start menu's quote button (dialogs/menu.py)


def test_cluster_three_workers_one_database_one_bot(tmp_path):
    """All three migrate one empty database together; each answers its posts; a duplicate posted
    to two workers is answered once; a worker killed with -9 refuses (0), and after a restart on
    its port answers again; a wrong secret is refused."""
    with (
        fresh_database() as url,
        BotApiStub(TOKEN, webhook_delivery=False) as stub,
        ServeCluster(stub, url, tmp_path, workers=3) as cluster,
    ):
        assert [c.params["secret_token"] for c in stub.calls("setWebhook")] == [SECRET] * 3
        assert {c.params["url"] for c in stub.calls("setWebhook")} == {
            f"{w.url}/webhooks/telegram" for w in cluster.workers
        }
        assert cluster.query("SELECT version FROM schema_migrations ORDER BY version") == [
            {"version": n} for n in range(1, len(cluster.query("SELECT * FROM schema_migrations")) + 1)
        ]
        for n in range(3):
            update = stub.pending_update(stub.push_message(500 + n, "/start"))
            assert cluster.post(n, update) == 200
        for n in range(3):
            assert MENU in str(stub.wait_for_sent(500 + n, 1, timeout=30)[0].reply_markup)

        twice = stub.pending_update(stub.push_message(600, "/start"))
        assert [cluster.post(0, twice), cluster.post(2, twice)] == [200, 200]
        assert cluster.post(1, twice, secret="wrong") == 401
        stub.wait_for_sent(600, 1, timeout=30)

        cluster.kill(1)
        assert cluster.alive() == [0, 2]
        assert cluster.post(1, stub.pending_update(stub.push_message(601, "/start"))) == 0
        cluster.restart(1)
        assert cluster.post(1, stub.pending_update(stub.push_message(602, "/start"))) == 200
        stub.wait_for_sent(602, 1, timeout=30)
        rows = cluster.query(
            "SELECT count(*) AS n FROM inbox WHERE event_id = $1", f"telegram:{twice['update_id']}"
        )
        assert rows == [{"n": 1}]
        assert len(stub.sent(600)) == 1 and stub.sent(601) == []
        # Each call is recorded with the run that made it (worker 1 started twice).
        assert sorted(c.via for c in stub.calls("setWebhook")) == ["w0.1", "w1.1", "w1.2", "w2.1"]
        assert cluster.stop() == [0, 0, 0]
    assert TOKEN.split(":")[1] not in cluster.logs()
