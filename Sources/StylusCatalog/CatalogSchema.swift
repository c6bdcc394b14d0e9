import GRDB

/// Versioned schema of the catalog. Migrations are append-only: never edit a shipped one, add
/// a new one. A database that has migrations this build does not know is refused.
package enum CatalogSchema {
    package static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()

        // Adapters (docs/CONTRACTS.md, Adapter cards fields + refined fields + local file + embedding) and example prompts.
        m.registerMigration("v1_adapters") { db in
            try db.execute(sql: """
                CREATE TABLE adapters (
                    id INTEGER PRIMARY KEY,
                    adapter_id TEXT NOT NULL UNIQUE,
                    alias TEXT NOT NULL,
                    title TEXT NOT NULL,
                    base_model TEXT,                       -- normalised, Civitai spelling
                    base_model_raw TEXT,                   -- as the source wrote it
                    type TEXT NOT NULL DEFAULT 'LORA',
                    tags TEXT NOT NULL DEFAULT '[]',       -- JSON array
                    trigger_words TEXT NOT NULL DEFAULT '[]',
                    description TEXT NOT NULL DEFAULT '',  -- raw, may be HTML
                    llm_description TEXT,
                    card_weight REAL,                      -- the card's structured weight
                    nsfw INTEGER NOT NULL DEFAULT 0,
                    download_count INTEGER,
                    rating REAL,
                    image_urls TEXT NOT NULL DEFAULT '[]',
                    download_url TEXT,
                    training_tags TEXT NOT NULL DEFAULT '[]',
                    extra TEXT,                            -- unknown input fields, JSON object
                    source TEXT NOT NULL,                  -- jsonl | civitai | scan | starter
                    source_ref TEXT,                       -- file:line or path it came from
                    card_hash TEXT NOT NULL,               -- detects unchanged re-imports
                    category TEXT NOT NULL,
                    is_character INTEGER NOT NULL DEFAULT 0,
                    weight REAL NOT NULL,                  -- refined recommended weight
                    weight_source TEXT NOT NULL,
                    refined_trigger_words TEXT NOT NULL DEFAULT '[]',
                    refined_description TEXT NOT NULL DEFAULT '',
                    refined_by TEXT NOT NULL DEFAULT 'offline',
                    file_path TEXT,
                    file_stem TEXT,
                    file_size INTEGER,
                    file_mtime REAL,
                    preview_path TEXT,
                    autov3 TEXT,
                    autov2 TEXT,
                    sha256 TEXT,
                    scan_signature TEXT,                   -- size+mtime of the file and its sidecars
                    embedding BLOB,                        -- little-endian Float32 × embedding_dim
                    embedding_model TEXT,
                    embedding_dim INTEGER,
                    created_at REAL NOT NULL,
                    updated_at REAL NOT NULL,
                    CHECK (embedding IS NULL OR length(embedding) = 4 * embedding_dim)
                );
                CREATE INDEX adapters_alias ON adapters(alias COLLATE NOCASE);
                CREATE INDEX adapters_stem ON adapters(file_stem COLLATE NOCASE);
                CREATE INDEX adapters_path ON adapters(file_path);
                CREATE INDEX adapters_base ON adapters(base_model);
                CREATE INDEX adapters_autov3 ON adapters(autov3);
                CREATE TABLE example_prompts (
                    adapter INTEGER NOT NULL REFERENCES adapters(id) ON DELETE CASCADE,
                    position INTEGER NOT NULL,
                    prompt TEXT NOT NULL,
                    negative_prompt TEXT,
                    PRIMARY KEY (adapter, position)
                ) WITHOUT ROWID;
                """)
        }

        // Full-text index over the fields people search by. External content: the adapters
        // table is the truth; triggers keep the index in step (not on embedding updates).
        m.registerMigration("v2_fts") { db in
            try db.execute(sql: """
                CREATE VIRTUAL TABLE adapters_fts USING fts5(
                    title, alias, tags, refined_trigger_words, refined_description,
                    content='adapters', content_rowid='id',
                    tokenize='porter unicode61 remove_diacritics 2');
                CREATE TRIGGER adapters_fts_ai AFTER INSERT ON adapters BEGIN
                    INSERT INTO adapters_fts(rowid, title, alias, tags, refined_trigger_words, refined_description)
                    VALUES (new.id, new.title, new.alias, new.tags, new.refined_trigger_words, new.refined_description);
                END;
                CREATE TRIGGER adapters_fts_ad AFTER DELETE ON adapters BEGIN
                    INSERT INTO adapters_fts(adapters_fts, rowid, title, alias, tags, refined_trigger_words, refined_description)
                    VALUES ('delete', old.id, old.title, old.alias, old.tags, old.refined_trigger_words, old.refined_description);
                END;
                CREATE TRIGGER adapters_fts_au
                AFTER UPDATE OF title, alias, tags, refined_trigger_words, refined_description ON adapters BEGIN
                    INSERT INTO adapters_fts(adapters_fts, rowid, title, alias, tags, refined_trigger_words, refined_description)
                    VALUES ('delete', old.id, old.title, old.alias, old.tags, old.refined_trigger_words, old.refined_description);
                    INSERT INTO adapters_fts(rowid, title, alias, tags, refined_trigger_words, refined_description)
                    VALUES (new.id, new.title, new.alias, new.tags, new.refined_trigger_words, new.refined_description);
                END;
                INSERT INTO adapters_fts(adapters_fts) VALUES ('rebuild');
                """)
        }

        // Answers of the optional LLM refiner, so an adapter is never sent twice for the same text.
        m.registerMigration("v3_llm_cache") { db in
            try db.execute(sql: """
                CREATE TABLE llm_refinements (
                    adapter_id TEXT NOT NULL,
                    model TEXT NOT NULL,
                    input_hash TEXT NOT NULL,
                    description TEXT NOT NULL,
                    weight REAL,
                    created_at REAL NOT NULL,
                    PRIMARY KEY (adapter_id, model, input_hash)
                ) WITHOUT ROWID;
                """)
        }
        // The hash of the text each vector was computed from, so a re-import that leaves the embedded
        // text alone keeps its vector (the model id is already in embedding_model).
        m.registerMigration("v4_embedding_text_hash") { db in
            try db.execute(sql: "ALTER TABLE adapters ADD COLUMN embedding_text_hash TEXT")
            // Stored vectors so far always belonged to the current text (any card change dropped them).
            let rows = try Row.fetchAll(db, sql: "SELECT id, refined_description FROM adapters WHERE embedding IS NOT NULL")
            for row in rows {
                try db.execute(sql: "UPDATE adapters SET embedding_text_hash = ? WHERE id = ?",
                               arguments: [CatalogStore.embeddingTextHash(row["refined_description"]), row["id"] as Int64])
            }
        }
        // Embeddings of short texts (adapter titles and subject tags), keyed by text: computed with the
        // adapters' vectors so the composer does not embed a candidate's names while a user waits.
        m.registerMigration("v5_text_vectors") { db in
            try db.execute(sql: """
                CREATE TABLE text_vectors (
                    model TEXT NOT NULL,
                    text TEXT NOT NULL,
                    vector BLOB NOT NULL,                  -- little-endian Float32
                    PRIMARY KEY (model, text)
                ) WITHOUT ROWID;
                """)
        }
        // The retrieval index file beside the catalog (`RetrievalIndex`) records the generation it was
        // built from. Triggers bump it in the same transaction as any change to what the index holds
        // (adapters added or removed; names, refined fields, file, vector changed), whichever code
        // path writes. `catalog_id` tells this catalog's index from another catalog's.
        m.registerMigration("v6_index_generation") { db in
            let (indexed, bump) = (indexedColumns, bumpGeneration)
            try db.execute(sql: """
                CREATE TABLE catalog_state (key TEXT PRIMARY KEY, value NOT NULL) WITHOUT ROWID;
                INSERT INTO catalog_state (key, value) VALUES ('generation', 1), ('catalog_id', lower(hex(randomblob(16))));
                CREATE TRIGGER adapters_generation_ai AFTER INSERT ON adapters BEGIN \(bump) END;
                CREATE TRIGGER adapters_generation_ad AFTER DELETE ON adapters BEGIN \(bump) END;
                CREATE TRIGGER adapters_generation_au AFTER UPDATE OF \(indexed) ON adapters BEGIN \(bump) END;
                """)
        }
        // The change log behind the retrieval index's delta (`RetrievalIndex`): which adapter ids
        // changed at which generation, written by the same triggers, in the same transaction, as
        // the generation bump (so a delta built from the log is exactly the catalog at that
        // generation). One row per adapter id (the latest change). `changes_since`: the log is
        // complete from this generation on; an index older than that is rebuilt whole.
        m.registerMigration("v7_index_change_log") { db in
            let (indexed, bump) = (indexedColumns, bumpGeneration)
            // Delete, then insert: an INSERT OR REPLACE here would take the conflict policy of the
            // statement that fired the trigger (an INSERT OR IGNORE would drop the log entry).
            func log(_ id: String) -> String {
                """
                DELETE FROM index_changes WHERE adapter_id = \(id);
                INSERT INTO index_changes (adapter_id, generation) SELECT \(id), value FROM catalog_state WHERE key = 'generation';
                """
            }
            try db.execute(sql: """
                CREATE TABLE index_changes (adapter_id TEXT PRIMARY KEY, generation INTEGER NOT NULL) WITHOUT ROWID;
                CREATE INDEX index_changes_generation ON index_changes (generation);
                INSERT INTO catalog_state (key, value) SELECT 'changes_since', value FROM catalog_state WHERE key = 'generation';
                DROP TRIGGER adapters_generation_ai;
                DROP TRIGGER adapters_generation_ad;
                DROP TRIGGER adapters_generation_au;
                CREATE TRIGGER adapters_generation_ai AFTER INSERT ON adapters BEGIN \(bump) \(log("NEW.adapter_id")) END;
                CREATE TRIGGER adapters_generation_ad AFTER DELETE ON adapters BEGIN \(bump) \(log("OLD.adapter_id")) END;
                CREATE TRIGGER adapters_generation_au AFTER UPDATE OF \(indexed) ON adapters BEGIN
                    \(bump) \(log("OLD.adapter_id")) \(log("NEW.adapter_id"))
                END;
                """)
        }
        return m
    }

    /// The columns whose change makes the retrieval index stale (v6 and v7 triggers). Part of those
    /// migrations' SQL: a change here needs a new migration that recreates the triggers.
    private static let indexedColumns = """
        adapter_id, alias, title, base_model, category, weight, weight_source, refined_trigger_words, tags,
        refined_description, nsfw, download_count, download_url, source, source_ref, file_path, file_stem,
        trigger_words, is_character, embedding, embedding_model, embedding_dim
        """
    private static let bumpGeneration = "UPDATE catalog_state SET value = value + 1 WHERE key = 'generation';"
}
