//! Embedded, append-only migrations: one list, a script per engine for each step. A step once
//! released is never edited; changes come as new steps.

use cairn_core::store::Engine;
use cairn_core::StoreError;
use sqlx::{AnyConnection, Connection, Executor, Row};

#[derive(Debug)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "foundation",
        sqlite: include_str!("../migrations/sqlite/0001_foundation.sql"),
        postgres: include_str!("../migrations/postgres/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        name: "sharing",
        sqlite: include_str!("../migrations/sqlite/0002_sharing.sql"),
        postgres: include_str!("../migrations/postgres/0002_sharing.sql"),
    },
    Migration {
        version: 3,
        name: "taxii_pull",
        sqlite: include_str!("../migrations/sqlite/0003_taxii_pull.sql"),
        postgres: include_str!("../migrations/postgres/0003_taxii_pull.sql"),
    },
    Migration {
        version: 4,
        name: "superseded",
        sqlite: include_str!("../migrations/sqlite/0004_superseded.sql"),
        postgres: include_str!("../migrations/postgres/0004_superseded.sql"),
    },
    Migration {
        version: 5,
        name: "release",
        sqlite: include_str!("../migrations/sqlite/0005_release.sql"),
        postgres: include_str!("../migrations/postgres/0005_release.sql"),
    },
    Migration {
        version: 6,
        name: "provenance",
        sqlite: include_str!("../migrations/sqlite/0006_provenance.sql"),
        postgres: include_str!("../migrations/postgres/0006_provenance.sql"),
    },
    Migration {
        version: 7,
        name: "feedback",
        sqlite: include_str!("../migrations/sqlite/0007_feedback.sql"),
        postgres: include_str!("../migrations/postgres/0007_feedback.sql"),
    },
    Migration {
        version: 8,
        name: "search",
        sqlite: include_str!("../migrations/sqlite/0008_search.sql"),
        postgres: include_str!("../migrations/postgres/0008_search.sql"),
    },
    Migration {
        version: 9,
        name: "value_hash",
        sqlite: include_str!("../migrations/sqlite/0009_value_hash.sql"),
        postgres: include_str!("../migrations/postgres/0009_value_hash.sql"),
    },
    Migration {
        version: 10,
        name: "value_seq_index",
        sqlite: include_str!("../migrations/sqlite/0010_value_seq_index.sql"),
        postgres: include_str!("../migrations/postgres/0010_value_seq_index.sql"),
    },
    Migration {
        version: 11,
        name: "value_parts",
        sqlite: include_str!("../migrations/sqlite/0011_value_parts.sql"),
        postgres: include_str!("../migrations/postgres/0011_value_parts.sql"),
    },
    Migration {
        version: 12,
        name: "refs_by_target",
        sqlite: include_str!("../migrations/sqlite/0012_refs_by_target.sql"),
        postgres: include_str!("../migrations/postgres/0012_refs_by_target.sql"),
    },
    Migration {
        version: 13,
        name: "object_key",
        sqlite: include_str!("../migrations/sqlite/0013_object_key.sql"),
        postgres: include_str!("../migrations/postgres/0013_object_key.sql"),
    },
    Migration {
        version: 14,
        name: "object_key_parts",
        sqlite: include_str!("../migrations/sqlite/0014_object_key_parts.sql"),
        postgres: include_str!("../migrations/postgres/0014_object_key_parts.sql"),
    },
];

fn internal(e: sqlx::Error) -> StoreError {
    StoreError::Internal(format!("migration: {e}"))
}

/// Split a script into statements on `;` at line ends (our scripts keep one statement per
/// `;\n`, and no `;` inside literals).
fn statements(script: &str) -> impl Iterator<Item = String> + '_ {
    script
        .split(";\n")
        .map(|s| {
            s.lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|s| !s.trim().is_empty())
}

/// Apply every step not applied yet, each in its own transaction. On PostgreSQL an advisory
/// lock keeps two starting nodes from migrating at once.
pub async fn migrate(conn: &mut AnyConnection, engine: Engine) -> Result<(), StoreError> {
    migrate_up_to(conn, engine, i64::MAX).await
}

/// Apply the steps up to `version` only: how the upgrade tests build a database as an older
/// release left it.
pub async fn migrate_up_to(
    conn: &mut AnyConnection,
    engine: Engine,
    version: i64,
) -> Result<(), StoreError> {
    if engine == Engine::Postgres {
        conn.execute("SELECT pg_advisory_lock(7305514)")
            .await
            .map_err(internal)?;
    }
    let result = run(conn, engine, version).await;
    if engine == Engine::Postgres {
        conn.execute("SELECT pg_advisory_unlock(7305514)")
            .await
            .map_err(internal)?;
    }
    result
}

async fn run(conn: &mut AnyConnection, engine: Engine, upto: i64) -> Result<(), StoreError> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS cairn_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .await
    .map_err(internal)?;
    let rows = sqlx::query("SELECT version FROM cairn_migrations ORDER BY version")
        .fetch_all(&mut *conn)
        .await
        .map_err(internal)?;
    let applied: Vec<i64> = rows
        .iter()
        .map(|r| r.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()
        .map_err(internal)?;
    let known = MIGRATIONS.last().map(|m| m.version).unwrap_or(0);
    if let Some(newer) = applied.iter().find(|v| **v > known) {
        return Err(StoreError::Internal(format!(
            "the database has migration {newer}, newer than this binary knows ({known}); upgrade Cairn"
        )));
    }
    for m in MIGRATIONS
        .iter()
        .filter(|m| m.version <= upto && !applied.contains(&m.version))
    {
        let script = match engine {
            Engine::Sqlite => m.sqlite,
            Engine::Postgres => m.postgres,
        };
        let mut tx = conn.begin().await.map_err(internal)?;
        for stmt in statements(script) {
            tx.execute(stmt.as_str()).await.map_err(|e| {
                StoreError::Internal(format!("migration {} ({}): {e}", m.version, m.name))
            })?;
        }
        if m.version == 9 {
            rekey_values(&mut tx).await?;
        }
        sqlx::query("INSERT INTO cairn_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
            .bind(m.version)
            .bind(m.name)
            .bind(cairn_core::ts::format(cairn_core::ts::now()))
            .execute(&mut *tx)
            .await
            .map_err(internal)?;
        tx.commit().await.map_err(internal)?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
    }
    Ok(())
}

/// Step 9: move the rows of the previous value index into the new one, with their hashes, a
/// range of versions at a time, then drop the previous table.
async fn rekey_values(tx: &mut sqlx::Transaction<'_, sqlx::Any>) -> Result<(), StoreError> {
    const SEQS: i64 = 20_000;
    let max: i64 = sqlx::query("SELECT COALESCE(MAX(seq), 0) AS m FROM object_values_0008")
        .fetch_one(&mut **tx)
        .await
        .map_err(internal)?
        .try_get("m")
        .map_err(internal)?;
    let mut from = 0i64;
    while from < max {
        let rows = sqlx::query(
            "SELECT seq, kind, value FROM object_values_0008 WHERE seq > $1 AND seq <= $2",
        )
        .bind(from)
        .bind(from + SEQS)
        .fetch_all(&mut **tx)
        .await
        .map_err(internal)?;
        let mut rows: Vec<(i64, String, String)> = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(internal)?;
        rows.sort();
        for chunk in rows.chunks(50) {
            let mut sql = String::from("INSERT INTO object_values (seq, h, kind, value) VALUES ");
            for (i, _) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                let p = i * 4;
                sql.push_str(&format!("(${}, ${}, ${}, ${})", p + 1, p + 2, p + 3, p + 4));
            }
            let mut q = sqlx::query(&sql);
            for (seq, kind, value) in chunk {
                q = q
                    .bind(*seq)
                    .bind(cairn_core::search::value_hash(kind, value))
                    .bind(kind.clone())
                    .bind(value.clone());
            }
            q.execute(&mut **tx).await.map_err(internal)?;
        }
        from += SEQS;
    }
    tx.execute("DROP TABLE object_values_0008")
        .await
        .map_err(internal)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_contiguous_and_scripts_split() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.name);
            // A step may be one engine's only (the other's script is a comment saying why).
            let (sqlite, postgres) = (statements(m.sqlite), statements(m.postgres));
            assert!(
                sqlite.count() + postgres.count() > 0,
                "{}: no statement",
                m.name
            );
            for script in [m.sqlite, m.postgres] {
                assert!(
                    statements(script).all(|s| !s.trim().is_empty() && !s.contains(";\n")),
                    "{}",
                    m.name
                );
            }
        }
        assert!(statements(MIGRATIONS[0].sqlite).all(|s| !s.contains(";\n")));
    }
}
