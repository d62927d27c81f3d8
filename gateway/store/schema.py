"""The SQLite schema as an ordered list of migrations; ``PRAGMA user_version`` says how far a file is.

Every table of the gateway is here, the webhook outbox's too (``gateway.webhooks.store`` reads and writes
it): a migration is a fixed text, what every database in the field ran under its number. Append one to
change the schema; never edit one that has shipped (tests/store/test_migrations.py holds them to that).
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: list[str] = [
    # 1: tenants, keys, files, faxes, attempts, events
    """
    CREATE TABLE tenants (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        token_sha256 TEXT NOT NULL UNIQUE,
        scopes TEXT NOT NULL,
        created_at REAL NOT NULL,
        revoked_at REAL
    );
    CREATE TABLE files (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        name TEXT NOT NULL,
        mime_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        path TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE faxes (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        direction TEXT NOT NULL CHECK (direction IN ('outbound', 'inbound')),
        from_number TEXT NOT NULL,
        to_number TEXT NOT NULL,
        status TEXT NOT NULL,
        error_code TEXT,
        error_description TEXT,
        pages_total INTEGER,
        pages_transferred INTEGER NOT NULL DEFAULT 0,
        file_ids TEXT NOT NULL DEFAULT '[]',
        document TEXT,
        remote_station_id TEXT,
        t38 INTEGER,
        bit_rate INTEGER,
        ecm INTEGER,
        resolution TEXT NOT NULL DEFAULT 'fine',
        request TEXT NOT NULL DEFAULT '{}',
        webhook_url TEXT,
        send_at REAL,
        next_attempt_at REAL,
        attempts_made INTEGER NOT NULL DEFAULT 0,
        first_page INTEGER NOT NULL DEFAULT 1,
        lease_owner TEXT,
        lease_until REAL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        completed_at REAL
    );
    CREATE INDEX faxes_tenant ON faxes (tenant_id, created_at);
    CREATE INDEX faxes_due ON faxes (status, next_attempt_at);
    CREATE TABLE attempts (
        fax_id TEXT NOT NULL REFERENCES faxes(id) ON DELETE CASCADE,
        number INTEGER NOT NULL,
        from_number TEXT,
        started_at REAL NOT NULL,
        ended_at REAL,
        status TEXT,
        sip_code INTEGER,
        hangup_cause TEXT,
        t30_code INTEGER,
        t30_text TEXT,
        pages_sent INTEGER NOT NULL DEFAULT 0,
        t38 INTEGER,
        call_id TEXT,
        PRIMARY KEY (fax_id, number)
    );
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        fax_id TEXT NOT NULL,
        tenant_id TEXT NOT NULL,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE INDEX events_fax ON events (fax_id, seq);
    """,
    # 2: the webhook outbox and delivery log
    """
    CREATE TABLE IF NOT EXISTS webhook_deliveries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id TEXT NOT NULL,
        event_type TEXT NOT NULL,
        fax_id TEXT NOT NULL,
        tenant_id TEXT NOT NULL,
        url TEXT NOT NULL,
        body BLOB NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        UNIQUE (event_id, url)
    );
    CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
    CREATE INDEX IF NOT EXISTS webhook_deliveries_fax ON webhook_deliveries (fax_id);
    CREATE TABLE IF NOT EXISTS webhook_attempts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
        attempt INTEGER NOT NULL,
        attempted_at REAL NOT NULL,
        duration REAL NOT NULL,
        status_code INTEGER,
        error TEXT,
        outcome TEXT NOT NULL CHECK (outcome IN ('delivered', 'retry', 'failed'))
    );
    CREATE INDEX IF NOT EXISTS webhook_attempts_delivery ON webhook_attempts (delivery_id);
    """,
    # 3: webhooks in the provider dialects' envelopes: per fax (Telnyx) and per tenant (Fax.Plus, Dropbox)
    """
    ALTER TABLE faxes ADD COLUMN webhook_format TEXT NOT NULL DEFAULT 'native';
    ALTER TABLE webhook_deliveries ADD COLUMN format TEXT NOT NULL DEFAULT 'native';
    CREATE TABLE webhook_subscriptions (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        format TEXT NOT NULL,
        url TEXT NOT NULL,
        events TEXT NOT NULL DEFAULT '[]',
        secret TEXT,
        created_at REAL NOT NULL
    );
    CREATE INDEX webhook_subscriptions_tenant ON webhook_subscriptions (tenant_id, format);
    """,
    # 4: what listings filter and sort on (Store.query_faxes): a page reads that page, in index order (id
    # last: the order's tie-break), not every fax of the tenant
    """
    CREATE INDEX faxes_tenant_created ON faxes (tenant_id, created_at, id);
    CREATE INDEX faxes_tenant_updated ON faxes (tenant_id, updated_at, id);
    CREATE INDEX faxes_tenant_direction ON faxes (tenant_id, direction, created_at, id);
    CREATE INDEX faxes_tenant_status ON faxes (tenant_id, status, created_at, id);
    CREATE INDEX faxes_tenant_from ON faxes (tenant_id, from_number, created_at, id);
    CREATE INDEX faxes_tenant_to ON faxes (tenant_id, to_number, created_at, id);
    DROP INDEX faxes_tenant;
    """,
    # 5: the fields an API dialect keeps with a fax live in request.dialects.<dialect>, written with the fax
    # (gateway.service.NewFax.dialect_fields); Telnyx kept them in request.options.telnyx, Dropbox in
    # request.dropbox
    """
    UPDATE faxes SET request = json_set(
        json_remove(request, '$.options.telnyx'),
        '$.dialects.telnyx',
        json_extract(request, '$.options.telnyx')
    ) WHERE json_extract(request, '$.options.telnyx') IS NOT NULL;
    UPDATE faxes SET request = json_set(
        json_remove(request, '$.dropbox'),
        '$.dialects.dropbox',
        json_extract(request, '$.dropbox')
    ) WHERE json_extract(request, '$.dropbox') IS NOT NULL;
    """,
    # 6: trunks and learned delivery. An attempt keeps the routes it tried (legs: a JSON list of
    # {via, sip_code, reason, failed_over}), the one that carried the call, and a sentence that says how it
    # went; delivery_profiles remembers per destination and trunk what worked (gateway.jobs.delivery).
    """
    ALTER TABLE attempts ADD COLUMN legs TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE attempts ADD COLUMN route TEXT;
    ALTER TABLE attempts ADD COLUMN summary TEXT;
    CREATE TABLE delivery_profiles (
        destination TEXT NOT NULL,
        trunk TEXT NOT NULL,
        t38 INTEGER NOT NULL,
        ecm INTEGER NOT NULL,
        max_rate INTEGER NOT NULL,
        failures INTEGER NOT NULL DEFAULT 0,
        succeeded_at REAL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (destination, trunk)
    );
    """,
    # 7: a delivery profile says why it last stepped down ("T.38 refused with 488"), so that an attempt
    # started on G.711 because of it can say why.
    """
    ALTER TABLE delivery_profiles ADD COLUMN reason TEXT;
    """,
    # 8: when a delivery profile last stepped down, so that an old step down is tried again
    """
    ALTER TABLE delivery_profiles ADD COLUMN stepped_at REAL;
    """,
    # 9: several nodes. The due loop and the sweep for dead workers read partial indexes, which hold only
    # queued and running faxes: finished faxes are never in the hot index, however many are kept. A call
    # slot is one place under a limit that holds across nodes (gateway.store.Store.take_slots).
    """
    CREATE INDEX faxes_queue ON faxes (next_attempt_at, created_at)
        WHERE status = 'queued' AND direction = 'outbound';
    CREATE INDEX faxes_running ON faxes (lease_until)
        WHERE status IN ('processing', 'sending', 'in_progress');
    DROP INDEX faxes_due;
    CREATE TABLE call_slots (
        name TEXT NOT NULL,
        holder TEXT NOT NULL,
        owner TEXT NOT NULL,
        until REAL NOT NULL
    );
    CREATE INDEX call_slots_name ON call_slots (name, until);
    CREATE INDEX call_slots_holder ON call_slots (holder);
    """,
    # 10: the comment's text in a column of its own (FaxRecord.comment_text, '' for none: NULLs sort
    # differently in the two databases): a listing sorts by it in SQL.
    """
    ALTER TABLE faxes ADD COLUMN comment_text TEXT NOT NULL DEFAULT '';
    UPDATE faxes SET comment_text = COALESCE(json_extract(request, '$.comment.text'), '');
    """,
    # 11: each attempt's diagnostics (AttemptRecord.diagnostics: sip.diagnostics.CallDiagnostics as JSON;
    # '{}' for the attempts made before they were kept).
    """
    ALTER TABLE attempts ADD COLUMN diagnostics TEXT NOT NULL DEFAULT '{}';
    """,
    # 12: the mail outbox (gateway.mail.outbox): each mail stored whole before it is first sent, then
    # retried until sent or given up. The message is text (Latin-1 of its bytes, which maps every byte).
    """
    CREATE TABLE mail_outbox (
        id TEXT PRIMARY KEY,
        fax_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        sender TEXT NOT NULL,
        recipients TEXT NOT NULL,
        message TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at DOUBLE PRECISION NOT NULL,
        claimed_until DOUBLE PRECISION NOT NULL DEFAULT 0,
        last_error TEXT,
        created_at DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL
    );
    CREATE INDEX mail_outbox_due ON mail_outbox (status, next_attempt_at);
    CREATE INDEX mail_outbox_fax ON mail_outbox (fax_id);
    """,
    # 13: the queue's index in the order the due loop reads it (a fax due now has no next_attempt_at):
    # on the columns alone, every queued fax was read and sorted at each poll (3 ms at 50,000 scheduled).
    """
    DROP INDEX faxes_queue;
    CREATE INDEX faxes_queue ON faxes (COALESCE(next_attempt_at, 0), created_at)
        WHERE status = 'queued' AND direction = 'outbound';
    """,
]


def migrate(connection: sqlite3.Connection) -> int:
    """Bring the file up to the newest schema; returns the version it is at."""
    version = connection.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise RuntimeError(
            f"the database is schema version {version}, newer than this gateway ({len(MIGRATIONS)})"
        )
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        # One transaction per migration: a crash half way leaves the previous version intact.
        connection.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
    return len(MIGRATIONS)
