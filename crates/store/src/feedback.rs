//! Feedback and documents (see `cairn_core::feedback`, `cairn_core::documents`): publishing
//! built objects all or nothing with their notifications, and the index of what objects are
//! about (`stix_refs`), which the object queries use for `refers_to`. Reads go through
//! `crate::objects`, so the entitlement rule is in every one of them.

use cairn_core::model::AuditEvent;
use cairn_core::release::Notification;
use cairn_core::sharing::{NewObjectVersion, PutOutcome};
use cairn_core::store::Engine;
use cairn_core::{Store, StoreError};
use uuid::Uuid;

use crate::objects::Sql;
use crate::release::insert_notifications;
use crate::sql::{m, SqlStore, Tx};

type R<T> = Result<T, StoreError>;

/// Rows of 4 values per multi-row `INSERT` into `stix_refs`.
const REF_ROWS: usize = 50;

/// Index what stored versions are about: one row per (version, referenced object).
pub(crate) async fn insert_refs(
    tx: &mut Tx,
    engine: Engine,
    community: Uuid,
    rows: &[(&NewObjectVersion, String)],
) -> R<()> {
    let c = community.to_string();
    let all: Vec<(&str, &str, &str)> = rows
        .iter()
        .flat_map(|(obj, key)| {
            obj.refs
                .iter()
                .map(move |r| (obj.object_id.as_str(), key.as_str(), r.as_str()))
        })
        .collect();
    for chunk in all.chunks(REF_ROWS) {
        let mut sql = Sql::in_order(engine);
        let values: Vec<String> = chunk
            .iter()
            .map(|(object, key, target)| {
                format!(
                    "({}, {}, {}, {})",
                    sql.text(c.clone()),
                    sql.text(*object),
                    sql.text(*key),
                    sql.text(*target)
                )
            })
            .collect();
        sql.push(&format!(
            "INSERT INTO stix_refs (community_id, object_id, version_key, target_id) VALUES {} ON CONFLICT DO NOTHING",
            values.join(", ")
        ));
        sql.query().execute(&mut **tx).await.map_err(m)?;
    }
    Ok(())
}

/// Forget what a deleted version was about: its `targets` (the refs of its stored text, as
/// [`cairn_core::feedback::refs_in_raw`] reads them), each found by the whole key.
pub(crate) async fn delete_refs(
    tx: &mut Tx,
    community: Uuid,
    object_id: &str,
    version_key: &str,
    targets: &[String],
) -> R<()> {
    for target in targets {
        sqlx::query(
            "DELETE FROM stix_refs WHERE community_id = $1 AND target_id = $2 AND object_id = $3 AND version_key = $4",
        )
        .bind(community.to_string())
        .bind(target.clone())
        .bind(object_id.to_string())
        .bind(version_key.to_string())
        .execute(&mut **tx)
        .await
        .map_err(m)?;
    }
    Ok(())
}

impl SqlStore {
    pub(crate) async fn do_share_all(
        &self,
        community: Uuid,
        batch: &[NewObjectVersion],
        notify: &[Notification],
        audit: AuditEvent,
    ) -> R<Vec<PutOutcome>> {
        let mut tx = self.begin_write().await?;
        let (outcomes, stored) = Self::put_versions(
            &mut tx,
            self.engine(),
            self.value_filter(),
            community,
            batch,
        )
        .await?;
        if stored != batch.len() {
            // All or nothing: dropping the transaction rolls it back.
            return Ok(outcomes);
        }
        insert_notifications(&mut tx, notify).await?;
        let mut audit = audit;
        audit.details["stored"] = serde_json::json!(stored);
        Self::commit(tx, audit).await?;
        Ok(outcomes)
    }
}
