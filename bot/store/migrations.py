"""Numbered schema migrations, applied in order at start; ``PRAGMA user_version`` records the last one."""

from __future__ import annotations

# Part of migration 10 (and of the start-up rebuild in bot/store/connection.py, which must index alike): the
# columns of the full-text table and a paper row's values for them, through the functions of bot/store/fts.py.
SEARCH_COLUMNS = "rowid, title, abstract, ai_keywords, authors, title_stems, abstract_stems, keyword_stems"


def search_values(row: str) -> str:
    """The full-text values of the papers row ``row`` (``new``, ``old``, or a table alias), in SEARCH_COLUMNS order."""
    return (
        f"{row}.rowid, paperbot_words({row}.title), paperbot_words({row}.abstract), "
        f"paperbot_list_words({row}.ai_keywords), paperbot_list_words({row}.authors), paperbot_stems({row}.title), "
        f"paperbot_stems({row}.abstract), paperbot_list_stems({row}.ai_keywords)"
    )


MIGRATIONS: tuple[str, ...] = (
    # 1: papers, subscriptions (channel + DM alerts), the delivery outbox, DM channels, digest settings,
    # per-source state.
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
        kind TEXT NOT NULL DEFAULT 'channel' CHECK (kind IN ('channel', 'alert')),
        guild_id INTEGER,                 -- channel subscriptions: the owning server
        channel_id INTEGER,               -- channel subscriptions: where papers are posted
        user_id INTEGER NOT NULL,         -- who created it; for alerts the owner and DM recipient
        query TEXT NOT NULL,
        schedule TEXT NOT NULL DEFAULT 'instant' CHECK (schedule IN ('instant', 'daily', 'weekly')),
        min_upvotes INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        last_digest_at TEXT,              -- end of the period the last digest covered
        status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'removed')),
        pause_reason TEXT,
        CHECK ((kind = 'channel') = (guild_id IS NOT NULL AND channel_id IS NOT NULL))
    );
    CREATE INDEX subscriptions_guild ON subscriptions (guild_id, channel_id);
    CREATE INDEX subscriptions_user ON subscriptions (user_id, kind);

    -- The outbox. target is where the paper goes: ('channel', channel id) or ('user', user id → their DM).
    -- 'held' rows wait for their subscription's digest.
    CREATE TABLE deliveries (
        subscription_id INTEGER NOT NULL REFERENCES subscriptions (id),
        paper_id TEXT NOT NULL REFERENCES papers (id),
        target_kind TEXT NOT NULL CHECK (target_kind IN ('channel', 'user')),
        target_id INTEGER NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'held', 'sending', 'sent', 'failed')),
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
    CREATE INDEX deliveries_target_paper ON deliveries (target_kind, target_id, paper_id, status);

    CREATE TABLE dm_channels (
        user_id INTEGER PRIMARY KEY,
        channel_id INTEGER NOT NULL,
        opened_at TEXT NOT NULL
    );

    -- Digest settings per server ('guild') or per user ('user').
    CREATE TABLE digest_settings (
        scope TEXT NOT NULL CHECK (scope IN ('guild', 'user')),
        owner_id INTEGER NOT NULL,
        timezone TEXT NOT NULL DEFAULT 'UTC',
        digest_time TEXT NOT NULL DEFAULT '09:00',
        weekly_day INTEGER NOT NULL DEFAULT 0 CHECK (weekly_day BETWEEN 0 AND 6),
        PRIMARY KEY (scope, owner_id)
    );

    CREATE TABLE source_state (
        source TEXT PRIMARY KEY,
        last_attempt_at TEXT,
        last_success_at TEXT,
        consecutive_failures INTEGER NOT NULL DEFAULT 0,
        successes INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        next_attempt_at TEXT,
        degraded INTEGER NOT NULL DEFAULT 0
    );
    """,
    # 2: full-text search over papers (FTS5, Porter stemming, accents folded), kept in sync by triggers.
    """
    CREATE VIRTUAL TABLE papers_fts USING fts5(
        title, abstract, authors, ai_keywords,
        content='papers', content_rowid='rowid', tokenize='porter unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER papers_fts_insert AFTER INSERT ON papers BEGIN
        INSERT INTO papers_fts (rowid, title, abstract, authors, ai_keywords)
        VALUES (new.rowid, new.title, new.abstract, new.authors, new.ai_keywords);
    END;
    CREATE TRIGGER papers_fts_update AFTER UPDATE OF title, abstract, authors, ai_keywords ON papers BEGIN
        INSERT INTO papers_fts (papers_fts, rowid, title, abstract, authors, ai_keywords)
        VALUES ('delete', old.rowid, old.title, old.abstract, old.authors, old.ai_keywords);
        INSERT INTO papers_fts (rowid, title, abstract, authors, ai_keywords)
        VALUES (new.rowid, new.title, new.abstract, new.authors, new.ai_keywords);
    END;
    CREATE TRIGGER papers_fts_delete AFTER DELETE ON papers BEGIN
        INSERT INTO papers_fts (papers_fts, rowid, title, abstract, authors, ai_keywords)
        VALUES ('delete', old.rowid, old.title, old.abstract, old.authors, old.ai_keywords);
    END;
    INSERT INTO papers_fts (papers_fts) VALUES ('rebuild');
    CREATE INDEX papers_source_seen ON papers (source, first_seen_at);
    """,
    # 3: when a delivery was last attempted, so an interrupted send older than Discord's nonce window is
    # checked against the channel's history instead of being resent blindly.
    """
    ALTER TABLE deliveries ADD COLUMN attempted_at TEXT;
    """,
    # 4 (issue 12): forum targets and paper controls. A subscription posting into a forum makes one post per
    # paper (``forum`` 1) tagged with ``forum_tags`` (a JSON list of tag ids). ``feedback`` holds each user's
    # last 👍/👎 on a paper in a target and when they saved it to their DMs.
    """
    ALTER TABLE subscriptions ADD COLUMN forum INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE subscriptions ADD COLUMN forum_tags TEXT NOT NULL DEFAULT '[]';
    CREATE TABLE feedback (
        user_id INTEGER NOT NULL,
        target_kind TEXT NOT NULL CHECK (target_kind IN ('channel', 'user')),
        target_id INTEGER NOT NULL,
        paper_id TEXT NOT NULL REFERENCES papers (id),
        vote TEXT CHECK (vote IN ('like', 'dislike')),  -- NULL: no vote (never cast, or taken back)
        voted_at TEXT,
        saved_at TEXT,
        PRIMARY KEY (user_id, target_kind, target_id, paper_id)
    );
    CREATE INDEX feedback_target_paper ON feedback (target_kind, target_id, paper_id);
    """,
    # 5: a role pinged when a channel subscription's papers arrive (NULL: none).
    """
    ALTER TABLE subscriptions ADD COLUMN mention_role_id INTEGER;
    """,
    # 6: at most this many instant posts per day per subscription (0: no cap); the rest wait, 'held' and marked
    # overflow, for the overflow message at the owner's digest time (and do not count as that day's instant posts).
    """
    ALTER TABLE subscriptions ADD COLUMN max_per_day INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE deliveries ADD COLUMN overflow INTEGER NOT NULL DEFAULT 0;
    """,
    # 7: the arXiv version of a paper (v1, v2, ...), as listed; the newest one seen is kept.
    """
    ALTER TABLE papers ADD COLUMN version INTEGER;
    """,
    # 8: relevance profiles. A target's seeded and imported examples (feedback clicks are kept in their own table
    # and joined in Store.profile_examples), and a subscription's mode: 'match' (its query decides) or
    # 'recommend' (the target's learned profile ranks what the query, if any, lets through).
    """
    CREATE TABLE profile_examples (
        target_kind TEXT NOT NULL CHECK (target_kind IN ('channel', 'user')),
        target_id INTEGER NOT NULL,
        paper_id TEXT NOT NULL REFERENCES papers (id),
        label INTEGER NOT NULL CHECK (label IN (-1, 1)),
        origin TEXT NOT NULL CHECK (origin IN ('seed', 'import')),
        user_id INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (target_kind, target_id, paper_id)
    );
    ALTER TABLE subscriptions ADD COLUMN mode TEXT NOT NULL DEFAULT 'match' CHECK (mode IN ('match', 'recommend'));
    """,
    # 9: retention. Every paper id ever seen, kept after the paper itself is pruned, so a paper listed again
    # later is never new again (at most once, ever); an index to find a paper's outbox rows when pruning it.
    """
    CREATE TABLE seen_papers (id TEXT PRIMARY KEY) WITHOUT ROWID;
    INSERT OR IGNORE INTO seen_papers (id) SELECT id FROM papers;
    CREATE TRIGGER papers_seen AFTER INSERT ON papers BEGIN
        INSERT OR IGNORE INTO seen_papers (id) VALUES (new.id);
    END;
    CREATE INDEX deliveries_paper ON deliveries (paper_id, status);
    """,
    # 10 (issue 16.2, 16.3, 16.11): search that agrees with matching, and a category index. The full-text table is
    # rebuilt contentless over the matcher's own tokens and stems (computed by SQL functions every connection
    # registers, see bot/store/fts.py), with prefix indexes for short prefixes; paper_categories holds each paper's
    # normalized categories by first-seen time. Both are filled at start (search_state's version is empty until
    # then) and whenever the normalization changes.
    f"""
    DROP TRIGGER papers_fts_insert;
    DROP TRIGGER papers_fts_update;
    DROP TRIGGER papers_fts_delete;
    DROP TABLE papers_fts;
    CREATE VIRTUAL TABLE papers_fts USING fts5(
        title, abstract, ai_keywords, authors, title_stems, abstract_stems, keyword_stems,
        content='', tokenize='ascii', prefix='2 3 4'
    );
    CREATE TABLE paper_categories (
        category TEXT NOT NULL,
        first_seen_at TEXT NOT NULL,
        paper_id TEXT NOT NULL,
        PRIMARY KEY (category, first_seen_at, paper_id)
    ) WITHOUT ROWID;
    CREATE INDEX paper_categories_paper ON paper_categories (paper_id);
    CREATE TABLE search_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        fold_version TEXT NOT NULL
    );
    INSERT INTO search_state (id, fold_version) VALUES (1, '');

    CREATE TRIGGER papers_search_insert AFTER INSERT ON papers BEGIN
        INSERT INTO papers_fts ({SEARCH_COLUMNS}) VALUES ({search_values("new")});
        INSERT OR IGNORE INTO paper_categories (category, first_seen_at, paper_id)
            SELECT paperbot_category(value), new.first_seen_at, new.id FROM json_each(new.categories);
    END;
    CREATE TRIGGER papers_search_update_text AFTER UPDATE OF title, abstract, authors, ai_keywords ON papers
    WHEN old.title IS NOT new.title OR old.abstract IS NOT new.abstract OR old.authors IS NOT new.authors
        OR old.ai_keywords IS NOT new.ai_keywords
    BEGIN
        INSERT INTO papers_fts (papers_fts, {SEARCH_COLUMNS}) VALUES ('delete', {search_values("old")});
        INSERT INTO papers_fts ({SEARCH_COLUMNS}) VALUES ({search_values("new")});
    END;
    CREATE TRIGGER papers_search_update_categories AFTER UPDATE OF categories ON papers
    WHEN old.categories IS NOT new.categories
    BEGIN
        DELETE FROM paper_categories WHERE paper_id = old.id;
        INSERT OR IGNORE INTO paper_categories (category, first_seen_at, paper_id)
            SELECT paperbot_category(value), new.first_seen_at, new.id FROM json_each(new.categories);
    END;
    CREATE TRIGGER papers_search_delete AFTER DELETE ON papers BEGIN
        INSERT INTO papers_fts (papers_fts, {SEARCH_COLUMNS}) VALUES ('delete', {search_values("old")});
    END;
    """,
    # 11: a category prefix (cat:cs.*) is a range of the category index on both drivers (bot/store/categories.py).
    # SQLite compares text by code point already; PostgreSQL's category column takes the "C" collation.
    "-- nothing to change on SQLite",
    # 12: the compiled form of each subscription's query (bot.matching.compiled), so that a restarted bot indexes
    # stored queries without parsing them again; written by the first load after a subscription is added. A table
    # of its own: writing a form is not a change to the subscription (on PostgreSQL, no change notification).
    """
    CREATE TABLE query_forms (
        subscription_id INTEGER PRIMARY KEY REFERENCES subscriptions (id),
        form TEXT NOT NULL
    );
    """,
    # 13 (issue 14 §4): compact matches. A new paper's plain matches as one row: its subscription ids, sorted and
    # packed (bot/store/matches.py), expanded into outbox rows in the background up to the cursor ``expanded``; the
    # row goes once fully expanded. ``created_at`` is the ingest time the expanded outbox rows keep.
    """
    CREATE TABLE paper_matches (
        paper_id TEXT PRIMARY KEY REFERENCES papers (id),
        subscription_ids BLOB NOT NULL,
        total INTEGER NOT NULL,
        expanded INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE INDEX paper_matches_created ON paper_matches (created_at, paper_id);
    """,
)
