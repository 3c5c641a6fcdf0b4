"""Files a chat cannot carry (LINE bots cannot send files): served by `quotebot serve` as links.

`RecordFiles.save(row_id, filename, content)` keeps the file and returns
`QUOTEBOT_PUBLIC_URL/records/<token>`. The token is the outbox row's id (masked) and an HMAC
of the row and the content under a server-side key, so it cannot be guessed, and the same row
always gets the same link (a retried message points at the same file). A link works for
`RECORD_DAYS` (7) days; then it answers 410 and the file is deleted. Files live in `records/`
beside the database.

Several workers (PostgreSQL): the worker that sent the message wrote the file on its own disk,
but the proxy may hand the click to another. That one finds no file and reads the document
from the outbox row instead (the token names the row; sent rows are kept 30 days, longer than
a link lives), so every worker serves every link and nothing needs a shared folder.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

RECORD_DAYS = 7
ROUTE = "/records/{token}"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")


class RecordFiles:
    def __init__(self, folder: Path, key: str, public_url: str, *, days: int = RECORD_DAYS):
        self.folder, self.key, self.public_url, self.days = folder, key.encode(), public_url.rstrip("/"), days
        self.store: Any = None  # set by `install` once serve's store is open: links without a file
        self.clock = time.time  # what a stored row's sent_at is compared with (tests inject one)

    @classmethod
    def beside(cls, server: Any, key: str) -> RecordFiles:
        """In records/ next to the SQLite file (./data/records for a database server)."""
        db = server.db_path or server.env.get("QUOTEBOT_DB", "").strip() or "./data/quotebot.db"
        folder = Path(db).resolve().parent if "://" not in db and db != ":memory:" else Path("data").resolve()
        return cls(folder / "records", key, server.settings.public_url)

    def token(self, row_id: int, content: bytes) -> str:
        """8 bytes: the row id, masked (a link does not tell how many messages the bot sent);
        16 bytes: the HMAC that makes it unguessable. 32 URL-safe characters."""
        digest = hmac.new(self.key, f"record:{row_id}:".encode() + content, hashlib.sha256).digest()
        masked = (row_id ^ self._mask()).to_bytes(8, "big")
        return base64.urlsafe_b64encode(masked + digest[:16]).decode()

    def _mask(self) -> int:
        return int.from_bytes(hmac.new(self.key, b"record-id", hashlib.sha256).digest()[:8], "big")

    def row_of(self, token: str) -> int | None:
        """The outbox row a token names (not yet checked: see `from_store`)."""
        if not _TOKEN.match(token):
            return None
        row_id = int.from_bytes(base64.urlsafe_b64decode(token)[:8], "big") ^ self._mask()
        return row_id if row_id < 2**63 else None  # a database id is a signed 64-bit integer

    def save(self, row_id: int, filename: str, content: bytes, now: float | None = None) -> str:
        token = self.token(row_id, content)
        self.folder.mkdir(parents=True, exist_ok=True)
        meta = self.folder / f"{token}.json"
        if not meta.exists():
            (self.folder / f"{token}.bin").write_bytes(content)
            expires = (now or time.time()) + self.days * 86400
            meta.write_text(json.dumps({"filename": Path(filename).name, "expires": expires}))
        return f"{self.public_url}/records/{token}"

    def load(self, token: str, now: float | None = None) -> tuple[str, bytes] | bool | None:
        """(filename, content); None if unknown; False if expired (and now deleted)."""
        if not _TOKEN.match(token):
            return None
        meta, data = self.folder / f"{token}.json", self.folder / f"{token}.bin"
        try:
            info = json.loads(meta.read_text())
        except (OSError, ValueError):
            return None
        if (now or time.time()) >= info["expires"]:
            meta.unlink(missing_ok=True)
            data.unlink(missing_ok=True)
            return False
        return info["filename"], data.read_bytes()

    def purge(self, now: float | None = None) -> int:
        """Delete every expired file; how many."""
        gone = 0
        for meta in self.folder.glob("*.json") if self.folder.exists() else ():
            if self.load(meta.stem, now) is False:
                gone += 1
        return gone

    async def from_store(self, token: str, now: float | None = None) -> tuple[str, bytes] | bool | None:
        """The document of the outbox row the token names, when no file is here (another worker
        sent it); the same answers as `load`. The link's 7 days count from the row's send."""
        row_id = self.row_of(token)
        if row_id is None or self.store is None:
            return None
        async with self.store.transaction() as tx:
            record = await tx.outbox_record(row_id)
        document = getattr(record.envelope.body, "document", None) if record else None
        if document is None or not hmac.compare_digest(self.token(row_id, document.content), token):
            return None
        if record.sent_at is not None:
            sent = datetime.fromisoformat(record.sent_at)
            sent = sent if sent.tzinfo else sent.replace(tzinfo=UTC)
            if (now or self.clock()) >= sent.timestamp() + self.days * 86400:
                return False
        return Path(document.filename).name, document.content

    async def handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        found = self.load(token)
        if found is None:
            found = await self.from_store(token)
        headers = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer"}
        if found is None:
            return web.Response(status=404, text="not found", headers=headers)
        if found is False:
            return web.Response(status=410, text="this link has expired", headers=headers)
        filename, content = found
        ascii_name = filename.encode("ascii", "replace").decode().replace('"', "")
        headers["Content-Disposition"] = f'inline; filename="{ascii_name}"'
        return web.Response(body=content, content_type="text/plain", charset="utf-8", headers=headers)

    def install(self, server: Any) -> None:
        """GET /records/{token} on the server, and expired files purged at start-up."""
        if any(
            getattr(r, "resource", None) and r.resource.canonical == ROUTE for r in server.web.router.routes()
        ):
            return
        server.web.router.add_get(ROUTE, self.handle)

        async def with_store(_web: web.Application):
            self.store = server.app.store
            yield

        server.web.cleanup_ctx.append(with_store)
        gone = self.purge()
        if gone:
            log.info("deleted %d expired record file(s)", gone)
