//! Sanitization rules and the anonymous sources' reveals (see `cairn_core::anonymity`).

use cairn_core::anonymity::{RuleScope, SourceReveal};
use cairn_core::model::*;
use cairn_core::sanitize::SanitizationRules;
use cairn_core::{ts, StoreError};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::rows;
use crate::sql::{m, SqlStore};

type R<T> = Result<T, StoreError>;

impl SqlStore {
    pub(crate) async fn do_sanitization_rules(
        &self,
        scope: RuleScope,
    ) -> R<Option<SanitizationRules>> {
        let row =
            sqlx::query("SELECT rules FROM sanitization_rules WHERE scope = $1 AND scope_id = $2")
                .bind(scope.kind())
                .bind(scope.id().to_string())
                .fetch_optional(self.pool())
                .await
                .map_err(m)?;
        row.map(|r| {
            let text = rows::text(&r, "rules")?;
            serde_json::from_str(&text)
                .map_err(|e| StoreError::Internal(format!("column rules: {e}")))
        })
        .transpose()
    }

    pub(crate) async fn do_set_sanitization_rules(
        &self,
        scope: RuleScope,
        rules: Option<&SanitizationRules>,
        at: OffsetDateTime,
        audit: AuditEvent,
    ) -> R<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM sanitization_rules WHERE scope = $1 AND scope_id = $2")
            .bind(scope.kind())
            .bind(scope.id().to_string())
            .execute(&mut *tx)
            .await
            .map_err(m)?;
        if let Some(r) = rules {
            let text = serde_json::to_string(r)
                .map_err(|e| StoreError::Internal(format!("encode rules: {e}")))?;
            sqlx::query("INSERT INTO sanitization_rules (scope, scope_id, rules, updated_at) VALUES ($1, $2, $3, $4)")
                .bind(scope.kind())
                .bind(scope.id().to_string())
                .bind(text)
                .bind(ts::format(at))
                .execute(&mut *tx)
                .await
                .map_err(m)?;
        }
        Self::commit(tx, audit).await
    }

    pub(crate) async fn do_object_source(
        &self,
        community: Uuid,
        object_id: &str,
    ) -> R<Option<(Uuid, bool)>> {
        let row = sqlx::query(&format!(
            "SELECT source_org, anonymous FROM stix_objects WHERE {} ORDER BY seq LIMIT 1",
            crate::objects::versions_of(
                cairn_core::store::Store::engine(self),
                "stix_objects",
                "$1",
                "$2"
            )
        ))
        .bind(community.to_string())
        .bind(object_id.to_string())
        .fetch_optional(self.pool())
        .await
        .map_err(m)?;
        row.map(|r| {
            Ok((
                rows::uuid(&r, "source_org")?,
                rows::int(&r, "anonymous")? != 0,
            ))
        })
        .transpose()
    }

    pub(crate) async fn do_record_reveal(&self, r: &SourceReveal, audit: AuditEvent) -> R<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO source_reveals (id, community_id, object_id, revealed_by, reason, at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(r.id.to_string())
            .bind(r.community_id.to_string())
            .bind(r.object_id.clone())
            .bind(r.revealed_by.map(|u| u.to_string()))
            .bind(r.reason.clone())
            .bind(ts::format(r.at))
            .execute(&mut *tx)
            .await
            .map_err(m)?;
        Self::commit(tx, audit).await
    }

    pub(crate) async fn do_reveals(&self, community: Uuid) -> R<Vec<SourceReveal>> {
        sqlx::query("SELECT id, community_id, object_id, revealed_by, reason, at FROM source_reveals WHERE community_id = $1 ORDER BY at, id")
            .bind(community.to_string())
            .fetch_all(self.pool())
            .await
            .map_err(m)?
            .iter()
            .map(|r| {
                Ok(SourceReveal {
                    id: rows::uuid(r, "id")?,
                    community_id: rows::uuid(r, "community_id")?,
                    object_id: rows::text(r, "object_id")?,
                    revealed_by: rows::opt_uuid(r, "revealed_by")?,
                    reason: rows::text(r, "reason")?,
                    at: rows::at(r, "at")?,
                })
            })
            .collect()
    }
}
