//! Reading a log straight from a SQLite file, read-only, for an archivist who checks the
//! evidence without a running service (and without changing the file: no migrations run).

use std::path::Path;

use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use super::StoreError;

/// Every audit record (sequence, canonical JSON) in stored order, and every signed checkpoint
/// note in size order, of the database at `path`.
pub async fn read_log(path: &Path) -> Result<(Vec<(u64, Vec<u8>)>, Vec<String>), StoreError> {
    let options =
        SqliteConnectOptions::new().filename(path).read_only(true).create_if_missing(false);
    let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
    // The checkpoints first, then the records: a running server only appends, so every record a
    // checkpoint read here covers is among the records read after it.
    let notes =
        match sqlx::query("SELECT note FROM checkpoints ORDER BY size").fetch_all(&pool).await {
            Ok(rows) => {
                rows.iter().map(|r| r.try_get::<String, _>(0)).collect::<Result<Vec<_>, _>>()?
            }
            // A database from before checkpoints existed has none.
            Err(sqlx::Error::Database(e)) if e.message().contains("no such table") => Vec::new(),
            Err(e) => return Err(e.into()),
        };
    let rows = sqlx::query("SELECT sequence, record FROM audit_log ORDER BY sequence")
        .fetch_all(&pool)
        .await?;
    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        let sequence: i64 = row.try_get(0)?;
        let record: Vec<u8> = row.try_get(1)?;
        records.push((u64::try_from(sequence).unwrap_or(0), record));
    }
    pool.close().await;
    Ok((records, notes))
}
