"""deploy/nginx.conf, the compose profile's proxy, run for real in front of three real workers.

No Docker engine runs here, so the compose profile itself is not brought up (tests/test_docker.py
reads it). This runs the same nginx configuration file with the distribution's nginx (.ci/run
installs it), only the worker addresses moved from compose's service names to loopback ports,
in front of three `quotebot serve` processes on one throwaway PostgreSQL database
(tests/support/serve_cluster.py). Telegram is the Bot API stub; the test posts updates to the
proxy as Telegram would post them to the public address.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.botapi_stub import BotApiStub
from tests.support.serve_cluster import (
    SECRET,
    TOKEN,
    ServeCluster,
    free_port,
    fresh_database,
    http_get,
    post_update,
)

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "deploy" / "nginx.conf"
MENU = "menu.start.quote"  # the /start menu's quote button (dialogs/menu.py)


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("CI is set but nginx is not installed: .ci/run installs it")
    pytest.skip("nginx is not installed (apt-get install nginx-light)")


def local_config(ports: list[int], listen: int) -> str:
    """The repo's file with compose's `workerN:8080` as 127.0.0.1 ports; nothing else changed."""
    text = CONFIG.read_text(encoding="utf-8")
    names = re.findall(r"^\s*server (worker\d+:8080);", text, re.M)
    assert len(names) == len(ports)
    for name, port in zip(names, ports, strict=True):
        text = text.replace(f"server {name};", f"server 127.0.0.1:{port};")
    return text.replace("listen 8080;", f"listen 127.0.0.1:{listen};")


class Nginx:
    def __init__(self, folder: Path, ports: list[int]):
        folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (folder / "nginx.conf").write_text(local_config(ports, self.port), encoding="utf-8")
        self.out = (folder / "nginx.out").open("w")
        binary = nginx_binary()
        command = [binary, "-p", str(folder), "-c", "nginx.conf", "-e", "stderr"]
        check = subprocess.run(
            [*command, "-t"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert check.returncode == 0, check.stderr
        self.process = subprocess.Popen(
            [*command, "-g", f"daemon off; pid {folder}/nginx.pid;"],
            stdout=self.out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                self.get("/nothing")
                break
            except OSError:
                assert self.process.poll() is None, (folder / "nginx.out").read_text()
                assert time.monotonic() < deadline, "nginx did not listen"
                time.sleep(0.05)

    def get(self, path: str) -> tuple[int, str]:
        return http_get(self.url + path, timeout=10)

    def post(self, update: dict, secret: str | None = SECRET) -> int:
        return post_update(self.url, update, secret=secret, timeout=30)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGQUIT)  # nginx's graceful stop
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.out.close()


def accepted(worker) -> float:
    """Updates this worker process took (a per-process counter: each worker counts its own)."""
    status, text = worker.get("/metrics")
    assert status == 200
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "quotebot_updates_received_total" and s.labels.get("outcome") == "accepted"
    )


def test_proxy_round_robins_webhooks_over_three_workers_and_skips_a_dead_one(tmp_path):
    nginx_binary()  # skip before starting anything when there is none
    with (
        fresh_database() as url,
        BotApiStub(TOKEN, webhook_delivery=False) as stub,
        ServeCluster(stub, url, tmp_path / "workers", workers=3) as cluster,
    ):
        proxy = Nginx(tmp_path / "nginx", [w.port for w in cluster.workers])
        try:
            status, body = proxy.get("/healthz")
            assert status == 200 and json.loads(body)["status"] == "ok"
            assert proxy.get("/metrics")[0] == 404  # scraped from each worker, not through the proxy
            assert proxy.get("/")[0] == 404

            # Six chats' /start through the proxy, one after another: two to each worker.
            chats = range(700, 706)
            for chat in chats:
                assert proxy.post(stub.pending_update(stub.push_message(chat, "/start"))) == 200
            for chat in chats:
                assert MENU in str(stub.wait_for_sent(chat, 1, timeout=30)[0].reply_markup)
            assert [accepted(w) for w in cluster.workers] == [2, 2, 2]

            # The secret header passes through; a post without it is refused, and not retried.
            assert proxy.post(stub.pending_update(stub.push_message(710, "/start")), secret=None) == 401

            # A redelivery through the proxy reaches another worker and is answered once.
            again = stub.pending_update(stub.push_message(720, "/start"))
            assert proxy.post(again) == 200 and proxy.post(again) == 200
            stub.wait_for_sent(720, 1, timeout=30)

            # Worker 0 killed with -9: the proxy hands its share to the others; nothing is refused.
            cluster.kill(0)
            for chat in range(730, 736):
                assert proxy.post(stub.pending_update(stub.push_message(chat, "/start"))) == 200
            for chat in range(730, 736):
                stub.wait_for_sent(chat, 1, timeout=30)
            assert proxy.get("/healthz")[0] == 200
            rows = cluster.query(
                "SELECT count(*) AS n FROM inbox WHERE event_id = $1", f"telegram:{again['update_id']}"
            )
            assert rows == [{"n": 1}]
            assert len(stub.sent(720)) == 1 and stub.sent(710) == []
        finally:
            proxy.stop()
