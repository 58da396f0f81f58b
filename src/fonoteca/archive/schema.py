"""The archive's schema as a list of forward migrations. Never edit a migration that has shipped: append a new one."""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: shows, episodes, segments, search bookkeeping, word counts, LLM analyses and conversations
    """
    CREATE TABLE shows (
        id INTEGER PRIMARY KEY,
        slug TEXT NOT NULL UNIQUE,
        title TEXT NOT NULL,
        source TEXT NOT NULL UNIQUE,          -- feed URL, feed file path or media folder path
        source_kind TEXT NOT NULL CHECK (source_kind IN ('feed', 'folder')),
        language TEXT,                        -- pinned language code; NULL = detect per episode
        feed_language TEXT,                   -- what the feed claims (not trusted)
        description TEXT NOT NULL DEFAULT '', -- sanitised HTML
        link TEXT NOT NULL DEFAULT '',
        image TEXT NOT NULL DEFAULT '',
        added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
        synced_at TEXT
    );

    CREATE TABLE episodes (
        id TEXT PRIMARY KEY,                  -- stable: hash of show source + GUID / enclosure URL / file hash
        show_id INTEGER NOT NULL REFERENCES shows(id) ON DELETE CASCADE,
        guid TEXT NOT NULL,
        title TEXT NOT NULL,
        published TEXT,                       -- ISO 8601
        duration REAL,                        -- seconds of audio
        kind TEXT NOT NULL CHECK (kind IN ('audio', 'video', 'text')),
        media_url TEXT,                       -- remote enclosure
        media_path TEXT,                      -- local file (given by the user or downloaded)
        media_type TEXT,
        description TEXT NOT NULL DEFAULT '', -- sanitised HTML show notes
        link TEXT NOT NULL DEFAULT '',
        transcript_url TEXT,                  -- publisher's <podcast:transcript> or a sidecar file
        transcript_type TEXT,
        status TEXT NOT NULL DEFAULT 'new'
            CHECK (status IN ('new', 'downloaded', 'transcribing', 'done', 'failed')),
        error TEXT,                           -- why it failed, and what to do
        source TEXT CHECK (source IN ('transcribed', 'publisher', 'sidecar', 'text')),
        language TEXT,                        -- detected (or pinned) language of the transcript
        engine TEXT,                          -- e.g. faster-whisper 1.2.1
        model TEXT,                           -- e.g. whisper-base (int8, cpu)
        transcript_rev INTEGER NOT NULL DEFAULT 0, -- bumped whenever the segments change
        added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
        updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
        UNIQUE (show_id, guid)
    );
    CREATE INDEX episodes_show_published ON episodes (show_id, published);
    CREATE INDEX episodes_status ON episodes (status);

    CREATE TABLE segments (
        episode_id TEXT NOT NULL REFERENCES episodes(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        start REAL NOT NULL,
        end REAL NOT NULL,
        text TEXT NOT NULL,
        words TEXT,                           -- JSON [[start, end, word], ...]
        speaker TEXT,
        PRIMARY KEY (episode_id, idx)
    ) WITHOUT ROWID;

    -- Which transcript revision the tantivy index holds, so a crash between the two commits is repaired at start.
    CREATE TABLE indexed (
        episode_id TEXT PRIMARY KEY REFERENCES episodes(id) ON DELETE CASCADE,
        transcript_rev INTEGER NOT NULL
    ) WITHOUT ROWID;

    -- Per-episode counts of folded words and word pairs, so a word's trend over the history is one lookup.
    CREATE TABLE term_counts (
        term TEXT NOT NULL,
        episode_id TEXT NOT NULL REFERENCES episodes(id) ON DELETE CASCADE,
        count INTEGER NOT NULL,
        PRIMARY KEY (term, episode_id)
    ) WITHOUT ROWID;
    CREATE INDEX term_counts_episode ON term_counts (episode_id);

    CREATE TABLE analyses (
        episode_id TEXT NOT NULL REFERENCES episodes(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,                   -- summary, topics, entities, sentiment, language, translation
        params TEXT NOT NULL DEFAULT '',      -- e.g. words=30;focus=... or target=en
        model TEXT NOT NULL,
        prompt_version TEXT NOT NULL,
        transcript_rev INTEGER NOT NULL,
        result TEXT NOT NULL,                 -- JSON
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
        PRIMARY KEY (episode_id, kind, params)
    ) WITHOUT ROWID;

    CREATE TABLE conversations (
        id TEXT PRIMARY KEY,
        show_id INTEGER REFERENCES shows(id) ON DELETE SET NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
        content TEXT NOT NULL,
        citations TEXT,                       -- JSON
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    );
    CREATE INDEX messages_conversation ON messages (conversation_id, id);
    """,
    # 2: a conversation started about one episode keeps that scope when it is continued
    """
    ALTER TABLE conversations ADD COLUMN episode_id TEXT REFERENCES episodes(id) ON DELETE SET NULL;
    """,
    # 3: a feed URL's user:password lives apart from its source, which is shown everywhere
    """
    ALTER TABLE shows ADD COLUMN credentials TEXT;  -- "user:password" sent to the feed's own host only
    """,
    # 4: which process is downloading/transcribing an episode, so concurrent syncs never do the same episode twice
    """
    CREATE TABLE claims (
        episode_id TEXT PRIMARY KEY REFERENCES episodes(id) ON DELETE CASCADE,
        holder TEXT NOT NULL,                 -- host:pid:token of the claiming Archive
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        claimed_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
        heartbeat REAL NOT NULL               -- unix time of the holder's last sign of life
    ) WITHOUT ROWID;
    """,
]
