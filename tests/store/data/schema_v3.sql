-- A database as the gateway's migrations 1 to 3 left it (before issue 11 moved the webhook tables'
-- SQL into gateway/store/schema.py): written by that code with sqlite3's iterdump, kept to prove
-- such a file still opens. Do not edit.
BEGIN TRANSACTION;
CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        token_sha256 TEXT NOT NULL UNIQUE,
        scopes TEXT NOT NULL,
        created_at REAL NOT NULL,
        revoked_at REAL
    );
INSERT INTO "api_keys" VALUES('key_1','acme','2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae','edit,read',1700000000.0,NULL);
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
INSERT INTO "attempts" VALUES('fx_old',1,'+15550100',1700000002.0,1700000060.0,'success',NULL,NULL,NULL,NULL,2,NULL,NULL);
CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        fax_id TEXT NOT NULL,
        tenant_id TEXT NOT NULL,
        type TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at REAL NOT NULL
    );
INSERT INTO "events" VALUES(1,'evt_old','fx_old','acme','delivered','{"status": "success"}',1700000060.0);
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
    , webhook_format TEXT NOT NULL DEFAULT 'native');
INSERT INTO "faxes" VALUES('fx_old','acme','outbound','+15550100','+15550199','success',NULL,NULL,2,2,'[]',NULL,NULL,NULL,NULL,NULL,'fine','{}',NULL,NULL,NULL,0,1,NULL,NULL,1700000001.0,1700000060.0,1700000060.0,'telnyx');
CREATE TABLE files (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        name TEXT NOT NULL,
        mime_type TEXT NOT NULL,
        size INTEGER NOT NULL,
        path TEXT NOT NULL,
        created_at REAL NOT NULL
    );
CREATE TABLE tenants (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_at REAL NOT NULL
    );
INSERT INTO "tenants" VALUES('acme','ACME',1700000000.0);
CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id INTEGER NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    attempted_at REAL NOT NULL,
    duration REAL NOT NULL,
    status_code INTEGER,
    error TEXT,
    outcome TEXT NOT NULL CHECK (outcome IN ('delivered', 'retry', 'failed'))
);
INSERT INTO "webhook_attempts" VALUES(1,1,1,1700000061.0,0.05,200,NULL,'delivered');
CREATE TABLE webhook_deliveries (
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
    updated_at REAL NOT NULL, format TEXT NOT NULL DEFAULT 'native',
    UNIQUE (event_id, url)
);
INSERT INTO "webhook_deliveries" VALUES(1,'evt_old','fax.delivered','fx_old','acme','https://hooks.example/t',X'7B7D','delivered',1,1700000060.0,1700000060.0,1700000061.0,'telnyx');
CREATE TABLE webhook_subscriptions (
        id TEXT PRIMARY KEY,
        tenant_id TEXT NOT NULL REFERENCES tenants(id),
        format TEXT NOT NULL,
        url TEXT NOT NULL,
        events TEXT NOT NULL DEFAULT '[]',
        secret TEXT,
        created_at REAL NOT NULL
    );
INSERT INTO "webhook_subscriptions" VALUES('hook_old','acme','faxplus','https://hooks.example/f','["fax_sent"]',NULL,1700000000.0);
CREATE INDEX faxes_tenant ON faxes (tenant_id, created_at);
CREATE INDEX faxes_due ON faxes (status, next_attempt_at);
CREATE INDEX events_fax ON events (fax_id, seq);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_fax ON webhook_deliveries (fax_id);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id);
CREATE INDEX webhook_subscriptions_tenant ON webhook_subscriptions (tenant_id, format);
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('events',1);
INSERT INTO "sqlite_sequence" VALUES('webhook_deliveries',1);
INSERT INTO "sqlite_sequence" VALUES('webhook_attempts',1);
COMMIT;
PRAGMA user_version = 3;
