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
    # 5: shows read by yt-dlp (channels, playlists, video pages) and shows of imported transcripts; transcripts from a
    # platform's captions or imported files; an episode's thumbnail. SQLite cannot widen a CHECK in place, so both
    # tables are rebuilt (with foreign keys off: see fonoteca.archive.migrations) and their rows copied unchanged.
    """
    CREATE TABLE shows_v5 (
        id INTEGER PRIMARY KEY,
        slug TEXT NOT NULL UNIQUE,
        title TEXT NOT NULL,
        source TEXT NOT NULL UNIQUE,          -- feed URL, feed file path, media folder path or platform page URL
        source_kind TEXT NOT NULL CHECK (source_kind IN ('feed', 'folder', 'platform', 'transcripts')),
        language TEXT,
        feed_language TEXT,
        description TEXT NOT NULL DEFAULT '',
        link TEXT NOT NULL DEFAULT '',
        image TEXT NOT NULL DEFAULT '',
        added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
        synced_at TEXT,
        credentials TEXT
    );
    INSERT INTO shows_v5 (id, slug, title, source, source_kind, language, feed_language, description, link, image,
        added_at, synced_at, credentials)
    SELECT id, slug, title, source, source_kind, language, feed_language, description, link, image, added_at,
        synced_at, credentials FROM shows;
    DROP TABLE shows;
    ALTER TABLE shows_v5 RENAME TO shows;

    CREATE TABLE episodes_v5 (
        id TEXT PRIMARY KEY,
        show_id INTEGER NOT NULL REFERENCES shows(id) ON DELETE CASCADE,
        guid TEXT NOT NULL,
        title TEXT NOT NULL,
        published TEXT,
        duration REAL,
        kind TEXT NOT NULL CHECK (kind IN ('audio', 'video', 'text')),
        media_url TEXT,
        media_path TEXT,
        media_type TEXT,
        description TEXT NOT NULL DEFAULT '',
        link TEXT NOT NULL DEFAULT '',
        transcript_url TEXT,
        transcript_type TEXT,
        status TEXT NOT NULL DEFAULT 'new'
            CHECK (status IN ('new', 'downloaded', 'transcribing', 'done', 'failed')),
        error TEXT,
        source TEXT CHECK (source IN ('transcribed', 'publisher', 'sidecar', 'text', 'captions', 'auto_captions',
            'imported')),
        language TEXT,
        engine TEXT,
        model TEXT,
        transcript_rev INTEGER NOT NULL DEFAULT 0,
        added_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
        updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
        image TEXT NOT NULL DEFAULT '',       -- thumbnail URL (video platforms)
        UNIQUE (show_id, guid)
    );
    INSERT INTO episodes_v5 (id, show_id, guid, title, published, duration, kind, media_url, media_path, media_type,
        description, link, transcript_url, transcript_type, status, error, source, language, engine, model,
        transcript_rev, added_at, updated_at)
    SELECT id, show_id, guid, title, published, duration, kind, media_url, media_path, media_type, description, link,
        transcript_url, transcript_type, status, error, source, language, engine, model, transcript_rev, added_at,
        updated_at FROM episodes;
    DROP TABLE episodes;
    ALTER TABLE episodes_v5 RENAME TO episodes;
    CREATE INDEX episodes_show_published ON episodes (show_id, published);
    CREATE INDEX episodes_status ON episodes (status);
    """,
    # 6: how many words each indexed episode has, the denominator of a trend "per 1,000 words". Archives indexed
    # before it get theirs from their stored word counts (Alembic revision 0014), without reindexing.
    """
    ALTER TABLE indexed ADD COLUMN words INTEGER;  -- folded words said in the indexed revision; NULL = not counted yet
    """,
    # 7: watched words: the watches, which transcript revision each has scanned, the mentions found, and the webhook's
    # outbox (one batch per scan that found mentions while a webhook was configured)
    """
    CREATE TABLE watches (
        id INTEGER PRIMARY KEY,
        term TEXT NOT NULL,                   -- the word or phrase as the user wrote it
        folded TEXT NOT NULL,                 -- its folded words, space-separated
        show_id INTEGER REFERENCES shows(id) ON DELETE CASCADE,  -- NULL = every show
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
    );
    CREATE UNIQUE INDEX watches_term_show ON watches (folded, COALESCE(show_id, 0));

    CREATE TABLE watch_scans (
        watch_id INTEGER NOT NULL REFERENCES watches(id) ON DELETE CASCADE,
        episode_id TEXT NOT NULL REFERENCES episodes(id) ON DELETE CASCADE,
        transcript_rev INTEGER NOT NULL,      -- the revision of the transcript this watch has scanned
        PRIMARY KEY (watch_id, episode_id)
    ) WITHOUT ROWID;
    CREATE INDEX watch_scans_episode ON watch_scans (episode_id);

    CREATE TABLE watch_batches (
        id INTEGER PRIMARY KEY,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt REAL NOT NULL,           -- unix time of the next delivery attempt
        last_error TEXT,
        delivered_at TEXT
    );

    CREATE TABLE mentions (
        id INTEGER PRIMARY KEY,
        watch_id INTEGER NOT NULL REFERENCES watches(id) ON DELETE CASCADE,
        episode_id TEXT NOT NULL REFERENCES episodes(id) ON DELETE CASCADE,
        transcript_rev INTEGER NOT NULL,
        start REAL NOT NULL,                  -- second the line starts at
        sentence TEXT NOT NULL,               -- the transcript line
        count INTEGER NOT NULL,               -- times the word is said in it
        found_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
        seen INTEGER NOT NULL DEFAULT 0,      -- listed by `fonoteca watch`
        batch_id INTEGER REFERENCES watch_batches(id) ON DELETE SET NULL,
        UNIQUE (watch_id, episode_id, start, sentence)
    );
    CREATE INDEX mentions_episode ON mentions (episode_id);
    CREATE INDEX mentions_batch ON mentions (batch_id);
    """,
    # 8: how many segments of Whisper's output the quality guard dropped from an episode, by reason
    """
    ALTER TABLE episodes ADD COLUMN dropped_segments TEXT;  -- JSON {"phantom phrase": 2, "repetitive": 1}
    """,
    # 9: the feed's episode number (itunes:episode), by which imported transcript files are matched to episodes
    """
    ALTER TABLE episodes ADD COLUMN number INTEGER;
    """,
    # 10: search by meaning: each episode's passages and their int8 vectors, per embeddings model (archive/vectors.py)
    """
    CREATE TABLE vectors (
        episode_id TEXT NOT NULL REFERENCES episodes(id) ON DELETE CASCADE,
        model TEXT NOT NULL,                  -- the embeddings model's name
        dim INTEGER NOT NULL,                 -- its vectors' size: another size is never compared, it is re-embedded
        transcript_rev INTEGER NOT NULL,      -- the transcript revision the passages were cut from
        count INTEGER NOT NULL,               -- passages
        spans BLOB NOT NULL,                  -- float32 (count, 4): start, end, first and last segment idx
        vectors BLOB NOT NULL,                -- int8 (count, dim)
        embedded_at REAL NOT NULL,            -- unix time: a process's loaded vectors are stale when this moves
        PRIMARY KEY (episode_id, model)
    ) WITHOUT ROWID;
    """,
    # 11: which of a video platform's captions a show imports instead of transcribing (`fonoteca add --captions`,
    # `--transcribe`)
    """
    ALTER TABLE shows ADD COLUMN captions TEXT NOT NULL DEFAULT 'creator'
        CHECK (captions IN ('creator', 'auto', 'none'));
    """,
    # 12: a search by meaning asks whether the model's vectors changed (VectorStore.stamp) before every query; without
    # this index the answer reads every vector (~20 ms for 1,500 hours), with it only the index
    """
    CREATE INDEX vectors_stamp ON vectors (model, dim, embedded_at);
    """,
]
