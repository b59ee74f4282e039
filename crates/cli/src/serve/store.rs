//! Where `otalab serve` keeps its state: every input that changed the platform (an API call
//! that writes, a device's message, a timer falling due), with its time, in order. The
//! platform's state is the fold of its inputs ([`Platform::apply`](super::platform::Platform::apply)
//! is deterministic), so replaying them after a crash gives back every product, device,
//! firmware, job and task exactly as they were, with every timer at its stored deadline.
//! Beside the log, each task's current row and every status change with its time are written
//! in the same transaction, for anyone who reads the database with SQL.
//!
//! An input is committed before the platform acts on it: a notice goes out after the
//! transaction that makes its task `NOTIFIED` is durable.
//!
//! Two stores behind one trait: [`SqliteStore`] (the database in `--data`, WAL, synchronous
//! commits) and [`MemoryStore`] (tests).

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// The schema version this build writes. Version 1: `meta`, `inputs`, `tasks`,
/// `task_changes`.
pub const SCHEMA_VERSION: i64 = 1;

/// One input of the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    /// An API call that writes: the action and its parameters (with what the server added:
    /// a generated secret, a fetched file's digests).
    Call {
        /// The action.
        action: String,
        /// Its parameters.
        params: std::collections::BTreeMap<String, String>,
    },
    /// A message from the broker.
    Message {
        /// Its topic.
        topic: String,
        /// Its payload.
        payload: Vec<u8>,
    },
    /// The cloud's timers fell due.
    Tick,
}

/// A task's row as written beside the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRow {
    /// Task id.
    pub id: u64,
    /// JobId.
    pub job: String,
    /// productKey.
    pub product_key: String,
    /// deviceName.
    pub device_name: String,
    /// Status now.
    pub status: String,
    /// Why.
    pub desc: String,
    /// Status changes not yet written: (ms, status, desc).
    pub changes: Vec<(u64, String, String)>,
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or read.
    #[error("{path}: {reason}")]
    Open {
        /// Its path.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A database written by a newer otalab.
    #[error(
        "{path}: schema version {found} is newer than this otalab's ({SCHEMA_VERSION}); use a newer otalab or another --data directory (the database is left as it is)"
    )]
    Newer {
        /// Its path.
        path: String,
        /// Its version.
        found: i64,
    },
    /// A write or read failed.
    #[error("database: {0}")]
    Sql(String),
    /// A stored input does not read back.
    #[error("database: input {seq} does not read back: {reason}")]
    Corrupt {
        /// Its sequence number.
        seq: i64,
        /// What is wrong.
        reason: String,
    },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e.to_string())
    }
}

/// The platform's storage.
pub trait Store: Send {
    /// Every input so far, oldest first, with its time (ms).
    fn load(&mut self) -> Result<Vec<(u64, Input)>, StoreError>;
    /// Appends inputs and the task rows they changed, all or nothing, durably.
    fn append(&mut self, inputs: &[(u64, Input)], tasks: &[TaskRow]) -> Result<(), StoreError>;
    /// A setting (`None`: never set).
    fn meta(&mut self, key: &str) -> Result<Option<String>, StoreError>;
    /// Sets a setting.
    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError>;
}

/// A store in memory (tests; nothing survives the process).
#[cfg(test)]
#[derive(Debug, Default)]
pub struct MemoryStore {
    inputs: Vec<(u64, Input)>,
    meta: std::collections::BTreeMap<String, String>,
}

#[cfg(test)]
impl Store for MemoryStore {
    fn load(&mut self) -> Result<Vec<(u64, Input)>, StoreError> {
        Ok(self.inputs.clone())
    }
    fn append(&mut self, inputs: &[(u64, Input)], _tasks: &[TaskRow]) -> Result<(), StoreError> {
        self.inputs.extend_from_slice(inputs);
        Ok(())
    }
    fn meta(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.meta.get(key).cloned())
    }
    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.meta.insert(key.to_owned(), value.to_owned());
        Ok(())
    }
}

/// The SQLite database of `otalab serve`.
pub struct SqliteStore {
    db: Connection,
}

const MIGRATIONS: [&str; 1] = ["
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE inputs (
  seq INTEGER PRIMARY KEY,
  at_ms INTEGER NOT NULL,
  kind TEXT NOT NULL,          -- call, message, tick
  name TEXT NOT NULL,          -- the action or the topic
  params TEXT,                 -- a call's parameters (JSON)
  payload BLOB                 -- a message's payload
);
CREATE TABLE tasks (
  task_id INTEGER PRIMARY KEY,
  job_id TEXT NOT NULL,
  product_key TEXT NOT NULL,
  device_name TEXT NOT NULL,
  status TEXT NOT NULL,
  task_desc TEXT NOT NULL
);
CREATE INDEX tasks_by_job ON tasks (job_id, task_id);
CREATE TABLE task_changes (
  task_id INTEGER NOT NULL,
  at_ms INTEGER NOT NULL,
  status TEXT NOT NULL,
  task_desc TEXT NOT NULL
);
CREATE INDEX task_changes_by_task ON task_changes (task_id);
"];

impl SqliteStore {
    /// Opens (or creates) the database at `path`, migrating an older schema; refuses a newer
    /// or unreadable one without writing to it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let shown = path.display().to_string();
        let open_err = |e: rusqlite::Error| StoreError::Open {
            path: shown.clone(),
            reason: e.to_string(),
        };
        let db = Connection::open(path).map_err(open_err)?;
        // Reading the version reads the header: a file that is not a database fails here.
        let version: i64 = db
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| StoreError::Open {
                path: shown.clone(),
                reason: format!("not an otalab database ({e})"),
            })?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Newer {
                path: shown,
                found: version,
            });
        }
        if version == 0 {
            let tables: i64 = db
                .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                .map_err(open_err)?;
            if tables > 0 {
                return Err(StoreError::Open {
                    path: shown,
                    reason: "a database that otalab did not write (it has tables but no otalab schema version); choose another --data directory".into(),
                });
            }
        }
        db.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        db.pragma_update(None, "synchronous", "FULL")
            .map_err(open_err)?;
        let mut store = Self { db };
        for (index, sql) in MIGRATIONS.iter().enumerate() {
            let target = index as i64 + 1;
            if version < target {
                let tx = store.db.transaction()?;
                tx.execute_batch(sql)?;
                tx.pragma_update(None, "user_version", target)?;
                tx.commit()?;
            }
        }
        Ok(store)
    }
}

impl Store for SqliteStore {
    fn load(&mut self) -> Result<Vec<(u64, Input)>, StoreError> {
        let mut statement = self
            .db
            .prepare("SELECT seq, at_ms, kind, name, params, payload FROM inputs ORDER BY seq")?;
        let rows = statement.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<Vec<u8>>>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, at, kind, name, params, payload) = row?;
            let input = match kind.as_str() {
                "call" => Input::Call {
                    action: name,
                    params: serde_json::from_str(params.as_deref().unwrap_or("{}")).map_err(
                        |e| StoreError::Corrupt {
                            seq,
                            reason: e.to_string(),
                        },
                    )?,
                },
                "message" => Input::Message {
                    topic: name,
                    payload: payload.unwrap_or_default(),
                },
                "tick" => Input::Tick,
                other => {
                    return Err(StoreError::Corrupt {
                        seq,
                        reason: format!("unknown kind {other:?}"),
                    });
                }
            };
            out.push((u64::try_from(at).unwrap_or(0), input));
        }
        Ok(out)
    }

    fn append(&mut self, inputs: &[(u64, Input)], tasks: &[TaskRow]) -> Result<(), StoreError> {
        let tx = self.db.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO inputs (at_ms, kind, name, params, payload) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for (at, input) in inputs {
                let at = i64::try_from(*at).unwrap_or(i64::MAX);
                match input {
                    Input::Call { action, params } => {
                        let json = serde_json::to_string(params)
                            .map_err(|e| StoreError::Sql(e.to_string()))?;
                        insert.execute(params![at, "call", action, json, None::<Vec<u8>>])?;
                    }
                    Input::Message { topic, payload } => {
                        insert.execute(params![at, "message", topic, None::<String>, payload])?;
                    }
                    Input::Tick => {
                        insert.execute(params![at, "tick", "", None::<String>, None::<Vec<u8>>])?;
                    }
                }
            }
            let mut upsert = tx.prepare_cached(
                "INSERT INTO tasks (task_id, job_id, product_key, device_name, status, task_desc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (task_id) DO UPDATE SET status = ?5, task_desc = ?6",
            )?;
            let mut change = tx.prepare_cached(
                "INSERT INTO task_changes (task_id, at_ms, status, task_desc) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for task in tasks {
                let id = i64::try_from(task.id).unwrap_or(i64::MAX);
                upsert.execute(params![
                    id,
                    task.job,
                    task.product_key,
                    task.device_name,
                    task.status,
                    task.desc
                ])?;
                for (at, status, desc) in &task.changes {
                    change.execute(params![
                        id,
                        i64::try_from(*at).unwrap_or(i64::MAX),
                        status,
                        desc
                    ])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn meta(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .db
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()?)
    }

    fn set_meta(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
            [key, value],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("otalab-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("otalab.db")
    }

    #[test]
    fn inputs_survive_a_reopen() {
        let path = temp("reopen");
        let mut params = std::collections::BTreeMap::new();
        params.insert("ProductKey".to_owned(), "a1pk".to_owned());
        let inputs = vec![
            (
                5,
                Input::Call {
                    action: "RegisterDevice".into(),
                    params,
                },
            ),
            (
                6,
                Input::Message {
                    topic: "/ota/device/inform/a1pk/d".into(),
                    payload: vec![0, 159, 255],
                },
            ),
            (7, Input::Tick),
        ];
        {
            let mut store = SqliteStore::open(&path).unwrap();
            store.append(&inputs, &[]).unwrap();
            store.set_meta("k", "v").unwrap();
        }
        let mut store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.load().unwrap(), inputs);
        assert_eq!(store.meta("k").unwrap().as_deref(), Some("v"));
        assert_eq!(store.meta("other").unwrap(), None);
    }

    #[test]
    fn a_newer_or_foreign_database_is_refused_and_left_alone() {
        let path = temp("newer");
        {
            let db = Connection::open(&path).unwrap();
            db.pragma_update(None, "user_version", 99).unwrap();
        }
        let e = SqliteStore::open(&path).err().unwrap();
        assert!(e.to_string().contains("schema version 99 is newer"), "{e}");
        let db = Connection::open(&path).unwrap();
        let v: i64 = db
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, 99);

        let path = temp("foreign");
        {
            let db = Connection::open(&path).unwrap();
            db.execute_batch("CREATE TABLE x (y)").unwrap();
        }
        let e = SqliteStore::open(&path).err().unwrap();
        assert!(e.to_string().contains("did not write"), "{e}");

        let path = temp("garbage");
        std::fs::write(
            &path,
            b"this is not a database at all, not even close......",
        )
        .unwrap();
        let e = SqliteStore::open(&path).err().unwrap();
        assert!(e.to_string().contains("not an otalab database"), "{e}");
    }
}
