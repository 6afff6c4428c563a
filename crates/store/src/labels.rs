//! Labels and actors in the store, with provenance.
//!
//! Every label belongs to one *import*: a named load of one source file (its canonical path or a name the
//! user chose). Importing under a name that exists replaces that import's labels and actors in one
//! transaction, so re-importing a file never duplicates. Actors are keyed by id; an actor defined again
//! by a later import replaces the earlier definition. Lookups of actors ignore case and accept the id,
//! the display name or any alias.
//!
//! The tables live beside the transfer schema and are created on first write (`CREATE TABLE IF NOT
//! EXISTS`); a store that never saw a label answers every read with nothing.
//!
//! Storage forms: chain = EIP-155 chain id, NULL for labels that cover every EVM chain; address = 20-byte
//! BLOB; category = [`Category::name`]; actor categories, jurisdictions = newline-separated text.

use std::time::{SystemTime, UNIX_EPOCH};

use chaintrace_core::{Actor, ActorId, Address, Category, Chain, Confidence, Label, LabelIndex};
use rusqlite::{OptionalExtension, Row, params};

use crate::StoreError;
use crate::sqlite::Store;

const LABEL_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS label_imports (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    format      TEXT    NOT NULL,
    imported_at INTEGER NOT NULL,
    labels      INTEGER NOT NULL,
    actors      INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS labels (
    import_id    INTEGER NOT NULL,
    chain        INTEGER,
    address      BLOB    NOT NULL,
    label        TEXT    NOT NULL,
    category     TEXT    NOT NULL,
    category_raw TEXT,
    abuse        TEXT,
    actor        TEXT,
    source       TEXT    NOT NULL,
    confidence   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS labels_address ON labels (address);
CREATE INDEX IF NOT EXISTS labels_import ON labels (import_id);
CREATE INDEX IF NOT EXISTS labels_actor ON labels (actor COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS actors (
    id            TEXT    PRIMARY KEY,
    import_id     INTEGER NOT NULL,
    name          TEXT    NOT NULL,
    categories    TEXT    NOT NULL,
    jurisdictions TEXT    NOT NULL,
    uri           TEXT,
    context       TEXT,
    source        TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS actors_import ON actors (import_id);
CREATE INDEX IF NOT EXISTS actors_name ON actors (name COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS actors_id_nocase ON actors (id COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS actor_aliases (
    actor_id TEXT    NOT NULL,
    alias    TEXT    NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (actor_id, position)
);
CREATE INDEX IF NOT EXISTS actor_aliases_alias ON actor_aliases (alias COLLATE NOCASE);
"#;

/// One load of labels and actors from one source, to be stored under `name`.
#[derive(Debug, Clone, Copy)]
pub struct LabelImport<'a> {
    /// Identity of the source: a canonical file path or a user-chosen name. Re-importing under the same
    /// name replaces everything the earlier import stored.
    pub name: &'a str,
    /// Format name (`tagpack`, `csv`, ...), kept for `labels imports` listings.
    pub format: &'a str,
    /// Labels to store.
    pub labels: &'a [Label],
    /// Actors to store.
    pub actors: &'a [Actor],
}

/// What storing one import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    /// Whether an import of the same name existed and was replaced.
    pub replaced: bool,
    /// Labels of the earlier import removed.
    pub labels_removed: u64,
    /// Labels stored.
    pub labels_stored: u64,
    /// Actors stored.
    pub actors_stored: u64,
}

/// A stored label and the import it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLabel {
    /// The label.
    pub label: Label,
    /// Name of the import that stored it (file path or `--source` name).
    pub import: String,
}

/// A stored import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportInfo {
    /// Import name.
    pub name: String,
    /// Format name.
    pub format: String,
    /// Unix seconds of the last (re-)import.
    pub imported_at: u64,
    /// Labels stored.
    pub labels: u64,
    /// Actors stored.
    pub actors: u64,
}

const LABEL_COLUMNS: &str = "l.chain, l.address, l.label, l.category, l.category_raw, l.abuse, l.actor, l.source, l.confidence, i.name";

impl Store {
    fn ensure_label_tables(&self) -> Result<(), StoreError> {
        self.conn.execute_batch(LABEL_SCHEMA).map_err(self.err())
    }

    /// Whether the label tables exist (a read-only or label-less store answers reads with nothing).
    fn has_label_tables(&self) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'actor_aliases'",
                [],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
            .map_err(self.err())
    }

    /// Stores one import in one transaction, first removing every label and actor an earlier import of
    /// the same name stored.
    pub fn replace_label_import(&mut self, import: LabelImport<'_>) -> Result<ImportOutcome, StoreError> {
        self.ensure_label_tables()?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0) as i64;
        let path = self.path.display().to_string();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        let mut outcome = ImportOutcome::default();
        let existing: Option<i64> = tx
            .query_row(
                "SELECT id FROM label_imports WHERE name = ?1",
                [import.name],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?;
        let import_id = match existing {
            Some(id) => {
                outcome.replaced = true;
                outcome.labels_removed = tx
                    .execute("DELETE FROM labels WHERE import_id = ?1", [id])
                    .map_err(err)? as u64;
                tx.execute(
                    "DELETE FROM actor_aliases WHERE actor_id IN (SELECT id FROM actors WHERE import_id = ?1)",
                    [id],
                )
                .map_err(err)?;
                tx.execute("DELETE FROM actors WHERE import_id = ?1", [id])
                    .map_err(err)?;
                id
            }
            None => {
                tx.execute(
                    "INSERT INTO label_imports (name, format, imported_at, labels, actors) VALUES (?1, ?2, ?3, 0, 0)",
                    params![import.name, import.format, now],
                )
                .map_err(err)?;
                tx.last_insert_rowid()
            }
        };
        {
            let mut insert = tx
                .prepare(
                    "INSERT INTO labels (import_id, chain, address, label, category, category_raw, abuse, actor, \
                     source, confidence) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(err)?;
            for l in import.labels {
                insert
                    .execute(params![
                        import_id,
                        l.chain.map(|c| c.chain_id() as i64),
                        &l.address.0[..],
                        l.text,
                        l.category.name(),
                        l.category_raw,
                        l.abuse,
                        l.actor.as_ref().map(ActorId::as_str),
                        l.source,
                        l.confidence.value(),
                    ])
                    .map_err(err)?;
            }
            outcome.labels_stored = import.labels.len() as u64;
            let mut drop_aliases = tx
                .prepare("DELETE FROM actor_aliases WHERE actor_id = ?1")
                .map_err(err)?;
            let mut put_actor = tx
                .prepare(
                    "INSERT OR REPLACE INTO actors (id, import_id, name, categories, jurisdictions, uri, context, \
                     source) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(err)?;
            let mut put_alias = tx
                .prepare("INSERT INTO actor_aliases (actor_id, alias, position) VALUES (?1, ?2, ?3)")
                .map_err(err)?;
            for a in import.actors {
                drop_aliases.execute([a.id.as_str()]).map_err(err)?;
                put_actor
                    .execute(params![
                        a.id.as_str(),
                        import_id,
                        a.name,
                        a.categories.join("\n"),
                        a.jurisdictions.join("\n"),
                        a.uri,
                        a.context,
                        a.source,
                    ])
                    .map_err(err)?;
                for (i, alias) in a.aliases.iter().enumerate() {
                    put_alias
                        .execute(params![a.id.as_str(), alias, i as i64])
                        .map_err(err)?;
                }
            }
            outcome.actors_stored = import.actors.len() as u64;
        }
        tx.execute(
            "UPDATE label_imports SET format = ?2, imported_at = ?3, labels = ?4, actors = ?5 WHERE id = ?1",
            params![
                import_id,
                import.format,
                now,
                outcome.labels_stored as i64,
                outcome.actors_stored as i64
            ],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(outcome)
    }

    /// Every import, by name.
    pub fn label_imports(&self) -> Result<Vec<ImportInfo>, StoreError> {
        if !self.has_label_tables()? {
            return Ok(Vec::new());
        }
        let mut stmt = self
            .conn
            .prepare("SELECT name, format, imported_at, labels, actors FROM label_imports ORDER BY name")
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ImportInfo {
                    name: r.get(0)?,
                    format: r.get(1)?,
                    imported_at: r.get::<_, i64>(2)?.max(0) as u64,
                    labels: r.get::<_, i64>(3)?.max(0) as u64,
                    actors: r.get::<_, i64>(4)?.max(0) as u64,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// Number of labels stored.
    pub fn label_count(&self) -> Result<u64, StoreError> {
        if !self.has_label_tables()? {
            return Ok(0);
        }
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM labels", [], |r| r.get(0))
            .map_err(self.err())?;
        Ok(n.max(0) as u64)
    }

    /// The labels of `address`: on `chain` including the chain-agnostic ones (which cover every EVM
    /// chain), or on every chain when `chain` is `None`. Most confident first.
    pub fn labels_of(&self, chain: Option<Chain>, address: Address) -> Result<Vec<StoredLabel>, StoreError> {
        if !self.has_label_tables()? {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {LABEL_COLUMNS} FROM labels l JOIN label_imports i ON i.id = l.import_id \
             WHERE l.address = ?1 ORDER BY l.confidence DESC, l.label, i.name"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(self.err())?;
        let mut rows = stmt.query([&address.0[..]]).map_err(self.err())?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(self.err())? {
            let stored = self.decode_label(row)?;
            if chain.is_none_or(|c| stored.label.applies_to(c, address)) {
                out.push(stored);
            }
        }
        Ok(out)
    }

    /// Calls `f` for every stored label, in unspecified order. Stops at `f`'s first error.
    pub fn for_each_label(
        &self,
        f: &mut dyn FnMut(StoredLabel) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if !self.has_label_tables()? {
            return Ok(());
        }
        let sql = format!("SELECT {LABEL_COLUMNS} FROM labels l JOIN label_imports i ON i.id = l.import_id");
        let mut stmt = self.conn.prepare(&sql).map_err(self.err())?;
        let mut rows = stmt.query([]).map_err(self.err())?;
        while let Some(row) = rows.next().map_err(self.err())? {
            f(self.decode_label(row)?)?;
        }
        Ok(())
    }

    /// Every stored label in memory, keyed by address: what attribution and the trace exit oracle use.
    pub fn label_index(&self) -> Result<LabelIndex, StoreError> {
        let mut index = LabelIndex::new();
        self.for_each_label(&mut |s| {
            index.insert(s.label);
            Ok(())
        })?;
        Ok(index)
    }

    /// The actor whose id, display name or alias is `name`, ignoring case. An id match beats a name
    /// match, which beats an alias match; among equals the smallest id wins, so the answer is stable.
    pub fn actor(&self, name: &str) -> Result<Option<Actor>, StoreError> {
        if !self.has_label_tables()? {
            return Ok(None);
        }
        let name = name.trim();
        let id: Option<String> = self
            .conn
            .query_row(
                "SELECT id FROM (
                    SELECT id, 0 AS rank FROM actors WHERE id = ?1 COLLATE NOCASE
                    UNION ALL SELECT id, 1 FROM actors WHERE name = ?1 COLLATE NOCASE
                    UNION ALL SELECT actor_id, 2 FROM actor_aliases WHERE alias = ?1 COLLATE NOCASE
                 ) ORDER BY rank, id LIMIT 1",
                [name],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())?;
        match id {
            Some(id) => self.actor_by_id(&id),
            None => Ok(None),
        }
    }

    fn actor_by_id(&self, id: &str) -> Result<Option<Actor>, StoreError> {
        let actor = self
            .conn
            .query_row(
                "SELECT id, name, categories, jurisdictions, uri, context, source FROM actors WHERE id = ?1",
                [id],
                |r| {
                    let split = |s: String| -> Vec<String> {
                        s.split('\n')
                            .filter(|x| !x.is_empty())
                            .map(str::to_string)
                            .collect()
                    };
                    Ok(Actor {
                        id: ActorId(r.get(0)?),
                        name: r.get(1)?,
                        aliases: Vec::new(),
                        categories: split(r.get(2)?),
                        jurisdictions: split(r.get(3)?),
                        uri: r.get(4)?,
                        context: r.get(5)?,
                        source: r.get(6)?,
                    })
                },
            )
            .optional()
            .map_err(self.err())?;
        let Some(mut actor) = actor else { return Ok(None) };
        let mut stmt = self
            .conn
            .prepare_cached("SELECT alias FROM actor_aliases WHERE actor_id = ?1 ORDER BY position")
            .map_err(self.err())?;
        let aliases = stmt.query_map([id], |r| r.get(0)).map_err(self.err())?;
        actor.aliases = aliases.collect::<Result<_, _>>().map_err(self.err())?;
        Ok(Some(actor))
    }

    /// Number of actors stored.
    pub fn actor_count(&self) -> Result<u64, StoreError> {
        if !self.has_label_tables()? {
            return Ok(0);
        }
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM actors", [], |r| r.get(0))
            .map_err(self.err())?;
        Ok(n.max(0) as u64)
    }

    /// Every label attributing an address to `actor` (its id compared ignoring case), by chain and
    /// address.
    pub fn addresses_of_actor(&self, actor: &ActorId) -> Result<Vec<StoredLabel>, StoreError> {
        if !self.has_label_tables()? {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {LABEL_COLUMNS} FROM labels l JOIN label_imports i ON i.id = l.import_id \
             WHERE l.actor = ?1 COLLATE NOCASE ORDER BY l.chain, l.address, l.confidence DESC, l.label"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(self.err())?;
        let mut rows = stmt.query([actor.as_str()]).map_err(self.err())?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(self.err())? {
            out.push(self.decode_label(row)?);
        }
        Ok(out)
    }

    fn decode_label(&self, r: &Row<'_>) -> Result<StoredLabel, StoreError> {
        let corrupt = |detail: String| StoreError::Corrupt {
            path: self.path.display().to_string(),
            table: "labels",
            detail,
        };
        let get = |e: rusqlite::Error| StoreError::Sqlite {
            path: self.path.display().to_string(),
            source: e,
        };
        let chain = match r.get::<_, Option<i64>>(0).map_err(get)? {
            None => None,
            Some(id) => Some(
                u64::try_from(id)
                    .ok()
                    .and_then(Chain::from_chain_id)
                    .ok_or_else(|| corrupt(format!("unknown chain id {id}")))?,
            ),
        };
        let bytes: Vec<u8> = r.get(1).map_err(get)?;
        let address = Address::from_slice(&bytes)
            .ok_or_else(|| corrupt(format!("address of {} bytes", bytes.len())))?;
        let category: String = r.get(3).map_err(get)?;
        let confidence: i64 = r.get(8).map_err(get)?;
        Ok(StoredLabel {
            label: Label {
                chain,
                address,
                text: r.get(2).map_err(get)?,
                category: Category::from_name(&category)
                    .ok_or_else(|| corrupt(format!("unknown category '{category}'")))?,
                category_raw: r.get(4).map_err(get)?,
                abuse: r.get(5).map_err(get)?,
                actor: r.get::<_, Option<String>>(6).map_err(get)?.map(ActorId),
                source: r.get(7).map_err(get)?,
                confidence: u8::try_from(confidence)
                    .ok()
                    .and_then(Confidence::new)
                    .ok_or_else(|| corrupt(format!("confidence {confidence}")))?,
            },
            import: r.get(9).map_err(get)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(chain: Option<Chain>, byte: u8, text: &str, category: Category, actor: Option<&str>) -> Label {
        Label {
            chain,
            address: Address([byte; 20]),
            text: text.to_string(),
            category,
            category_raw: Some(category.name().to_string()),
            abuse: None,
            actor: actor.map(|a| ActorId(a.to_string())),
            source: "https://example.org".to_string(),
            confidence: Confidence::AUTHORITY_DATA,
        }
    }

    fn actor(id: &str, name: &str, aliases: &[&str]) -> Actor {
        Actor {
            id: ActorId(id.to_string()),
            name: name.to_string(),
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
            categories: vec!["sanction".to_string(), "service_hack".to_string()],
            jurisdictions: vec![],
            uri: Some("https://example.org/actor".to_string()),
            context: Some("{\"notes\":[]}".to_string()),
            source: "actors.yaml".to_string(),
        }
    }

    #[test]
    fn reimport_replaces_and_lookups_see_chain_agnostic_labels() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        assert_eq!(store.labels_of(None, Address([1; 20])).expect("empty read"), []);
        let labels = vec![
            label(
                Some(Chain::Ethereum),
                1,
                "Exploiter",
                Category::Perpetrator,
                Some("lazarusgroup"),
            ),
            label(None, 1, "Sanctioned", Category::Sanctioned, None),
            label(
                Some(Chain::Tron),
                2,
                "Tron thing",
                Category::Exchange,
                Some("LazarusGroup"),
            ),
        ];
        let import = LabelImport {
            name: "/data/a.yaml",
            format: "tagpack",
            labels: &labels,
            actors: &[],
        };
        let first = store.replace_label_import(import).expect("import");
        assert_eq!((first.replaced, first.labels_stored), (false, 3));
        let again = store.replace_label_import(import).expect("re-import");
        assert_eq!(
            (again.replaced, again.labels_removed, again.labels_stored),
            (true, 3, 3)
        );
        assert_eq!(store.label_count().expect("count"), 3);

        let on_eth = store
            .labels_of(Some(Chain::Ethereum), Address([1; 20]))
            .expect("read");
        assert_eq!(on_eth.len(), 2);
        assert!(on_eth.iter().all(|s| s.import == "/data/a.yaml"));
        assert_eq!(
            store
                .labels_of(Some(Chain::Tron), Address([1; 20]))
                .expect("read"),
            []
        );
        assert_eq!(
            store
                .labels_of(Some(Chain::Bsc), Address([1; 20]))
                .expect("read")
                .len(),
            1
        );
        let round_trip: Vec<Label> = store
            .labels_of(None, Address([1; 20]))
            .expect("read")
            .into_iter()
            .map(|s| s.label)
            .collect();
        assert!(round_trip.contains(&labels[0]) && round_trip.contains(&labels[1]));

        let of_actor = store
            .addresses_of_actor(&ActorId("LAZARUSGROUP".into()))
            .expect("read");
        assert_eq!(of_actor.len(), 2);

        let index = store.label_index().expect("index");
        assert_eq!(index.len(), 3);
        assert_eq!(
            index.exit_category(Chain::Ethereum, Address([1; 20])),
            Some((Category::Sanctioned, "Sanctioned"))
        );

        // A smaller second file under the same name leaves only its own labels.
        let fewer = &labels[..1];
        store
            .replace_label_import(LabelImport {
                name: "/data/a.yaml",
                format: "tagpack",
                labels: fewer,
                actors: &[],
            })
            .expect("replace");
        assert_eq!(store.label_count().expect("count"), 1);
        assert_eq!(store.label_imports().expect("imports")[0].labels, 1);
    }

    #[test]
    fn actors_resolve_by_id_name_or_alias_ignoring_case() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut store = Store::open(dir.path()).expect("open");
        let actors = vec![
            actor("lazarusgroup", "Lazarus Group", &["Hidden Cobra", "Zinc"]),
            actor("zinc", "Zinc Exchange", &[]),
        ];
        let import = LabelImport {
            name: "actors",
            format: "actorpack",
            labels: &[],
            actors: &actors,
        };
        store.replace_label_import(import).expect("import");
        store
            .replace_label_import(import)
            .expect("re-import keeps one copy");
        assert_eq!(store.actor_count().expect("count"), 2);
        let by_alias = store.actor("hidden cobra").expect("read").expect("found");
        assert_eq!(by_alias, actors[0]);
        assert_eq!(
            store.actor("LAZARUS GROUP").expect("read").map(|a| a.id.0),
            Some("lazarusgroup".to_string())
        );
        // "zinc" is one actor's id and another's alias: the id wins.
        assert_eq!(
            store.actor("ZINC").expect("read").map(|a| a.id.0),
            Some("zinc".to_string())
        );
        assert_eq!(store.actor("nobody").expect("read"), None);
    }
}
