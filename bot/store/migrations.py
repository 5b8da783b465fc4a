"""Numbered schema migrations, applied in order at start; ``PRAGMA user_version`` records the last one."""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: papers, channel subscriptions, the delivery outbox, per-source state.
    """
    CREATE TABLE papers (
        id TEXT PRIMARY KEY,
        title TEXT NOT NULL,
        abstract TEXT NOT NULL,
        authors TEXT NOT NULL DEFAULT '[]',
        categories TEXT NOT NULL DEFAULT '[]',
        source TEXT NOT NULL,
        url TEXT NOT NULL DEFAULT '',
        pdf_url TEXT,
        code_url TEXT,
        project_url TEXT,
        thumbnail_url TEXT,
        upvotes INTEGER NOT NULL DEFAULT 0,
        ai_summary TEXT,
        ai_keywords TEXT NOT NULL DEFAULT '[]',
        published_at TEXT,
        first_seen_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX papers_first_seen ON papers (first_seen_at);

    CREATE TABLE subscriptions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        guild_id INTEGER NOT NULL,
        channel_id INTEGER NOT NULL,
        query TEXT NOT NULL,
        created_by INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'removed')),
        pause_reason TEXT
    );
    CREATE INDEX subscriptions_guild ON subscriptions (guild_id, channel_id);

    CREATE TABLE deliveries (
        subscription_id INTEGER NOT NULL REFERENCES subscriptions (id),
        paper_id TEXT NOT NULL REFERENCES papers (id),
        channel_id INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
        nonce TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        message_id INTEGER,
        last_error TEXT,
        created_at TEXT NOT NULL,
        next_attempt_at TEXT NOT NULL,
        sent_at TEXT,
        PRIMARY KEY (subscription_id, paper_id)
    );
    CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
    CREATE INDEX deliveries_channel_paper ON deliveries (channel_id, paper_id, status);

    CREATE TABLE source_state (
        source TEXT PRIMARY KEY,
        last_attempt_at TEXT,
        last_success_at TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        next_attempt_at TEXT
    );
    """,
)
