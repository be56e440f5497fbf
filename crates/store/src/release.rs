//! Marking decisions, release requests, notifications and review reminders (see
//! `cairn_core::release`). Reads of notifications and of reviews due include the entitlement
//! rule of `crate::objects` in their query.

use cairn_core::model::*;
use cairn_core::release::*;
use cairn_core::sharing::{Audience, PutOutcome, Viewer};
use cairn_core::store::Store;
use cairn_core::{ts, StoreError};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::objects::{entitlement, Sql};
use crate::rows;
use crate::sql::{m, SqlStore, Tx};

type R<T> = Result<T, StoreError>;

fn json<T: serde::Serialize>(v: &T) -> R<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Internal(format!("encode: {e}")))
}

fn from_json<T: serde::de::DeserializeOwned>(col: &str, text: &str) -> R<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Internal(format!("column {col}: {e}")))
}

/// Store one notification (its values from [`notice_row`]).
pub(crate) const NOTICE_INSERT: &str = "INSERT INTO notifications (id, user_id, community_id, object_id, kind, body, created_at, read_at) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)";

/// The values of [`NOTICE_INSERT`] for one notification.
pub(crate) fn notice_row(n: &Notification) -> R<[Option<String>; 7]> {
    Ok([
        Some(n.id.to_string()),
        Some(n.user_id.to_string()),
        n.community_id.map(|c| c.to_string()),
        n.object_id.clone(),
        Some(n.kind.clone()),
        Some(json(&n.body)?),
        Some(ts::format(n.created_at)),
    ])
}

pub(crate) async fn insert_notifications(tx: &mut Tx, notify: &[Notification]) -> R<()> {
    for n in notify {
        let mut q = sqlx::query(NOTICE_INSERT);
        for value in notice_row(n)? {
            q = q.bind(value);
        }
        q.execute(&mut **tx).await.map_err(m)?;
    }
    Ok(())
}

async fn update_request(tx: &mut Tx, r: &ReleaseRequest) -> R<()> {
    let done = sqlx::query("UPDATE release_requests SET body = $1, status = $2, decided_at = $3, version = $4 WHERE id = $5 AND version = $6")
        .bind(json(r)?)
        .bind(r.status.as_str())
        .bind(r.decided_at.map(ts::format))
        .bind(r.version)
        .bind(r.id.to_string())
        .bind(r.version - 1)
        .execute(&mut **tx)
        .await
        .map_err(m)?;
    if done.rows_affected() != 1 {
        return Err(StoreError::VersionConflict);
    }
    Ok(())
}

fn request_row(row: &sqlx::any::AnyRow) -> R<ReleaseRequest> {
    from_json("body", &rows::text(row, "body")?)
}

impl SqlStore {
    pub(crate) async fn do_object_audience(&self, community: Uuid, object_id: &str) -> R<Audience> {
        let found = sqlx::query(
            "SELECT kind, principal FROM object_audience WHERE community_id = $1 AND object_id = $2 ORDER BY kind, principal",
        )
        .bind(community.to_string())
        .bind(object_id.to_string())
        .fetch_all(self.pool())
        .await
        .map_err(m)?;
        let mut a = Audience::default();
        for r in found {
            let id = rows::uuid(&r, "principal")?;
            match rows::text(&r, "kind")?.as_str() {
                "org" => a.organizations.push(id),
                _ => a.users.push(id),
            }
        }
        Ok(a)
    }

    pub(crate) async fn do_change_marking(
        &self,
        write: &MarkingWrite,
        request: Option<&ReleaseRequest>,
        notify: &[Notification],
        audit: AuditEvent,
    ) -> R<()> {
        let c = &write.change;
        let community = c.community_id.to_string();
        let mut tx = self.begin_write().await?;
        if let Some(v) = &write.new_version {
            let (outcomes, _) = Self::put_versions(
                &mut tx,
                self.engine(),
                self.value_filter(),
                c.community_id,
                std::slice::from_ref(v),
            )
            .await?;
            if !matches!(outcomes.first(), Some(PutOutcome::Stored { .. })) {
                return Err(StoreError::Internal(format!(
                    "the remarked version of {} was not stored: {outcomes:?}",
                    c.object_id
                )));
            }
        }
        if c.from_tlp != c.to_tlp {
            sqlx::query(&format!(
                "UPDATE stix_objects SET tlp = $1 WHERE {}",
                crate::objects::versions_of(self.engine(), "stix_objects", "$2", "$3")
            ))
            .bind(c.to_tlp.as_str())
            .bind(community.clone())
            .bind(c.object_id.clone())
            .execute(&mut *tx)
            .await
            .map_err(m)?;
        }
        if write.set_audience {
            sqlx::query(crate::versions::AUDIENCE_DELETE)
                .bind(community.clone())
                .bind(c.object_id.clone())
                .execute(&mut *tx)
                .await
                .map_err(m)?;
            let entries = c
                .audience_after
                .organizations
                .iter()
                .map(|o| ("org", o))
                .chain(c.audience_after.users.iter().map(|u| ("user", u)));
            for (kind, principal) in entries {
                sqlx::query("INSERT INTO object_audience (community_id, object_id, kind, principal) VALUES ($1, $2, $3, $4)")
                    .bind(community.clone())
                    .bind(c.object_id.clone())
                    .bind(kind)
                    .bind(principal.to_string())
                    .execute(&mut *tx)
                    .await
                    .map_err(m)?;
            }
        }
        sqlx::query("INSERT INTO marking_changes (id, community_id, object_id, changed_by, org_id, from_tlp, to_tlp, audience_before, audience_after, new_version, reason, release_request, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)")
            .bind(c.id.to_string())
            .bind(community.clone())
            .bind(c.object_id.clone())
            .bind(c.changed_by.map(|u| u.to_string()))
            .bind(c.org_id.to_string())
            .bind(c.from_tlp.as_str())
            .bind(c.to_tlp.as_str())
            .bind(json(&c.audience_before)?)
            .bind(json(&c.audience_after)?)
            .bind(c.new_version.clone())
            .bind(c.reason.clone())
            .bind(c.release_request.map(|r| r.to_string()))
            .bind(ts::format(c.at))
            .execute(&mut *tx)
            .await
            .map_err(m)?;
        // The decision is also a review of the marking: the reminder period starts again.
        sqlx::query("DELETE FROM marking_reviews WHERE community_id = $1 AND object_id = $2")
            .bind(community)
            .bind(c.object_id.clone())
            .execute(&mut *tx)
            .await
            .map_err(m)?;
        if let Some(r) = request {
            update_request(&mut tx, r).await?;
        }
        insert_notifications(&mut tx, notify).await?;
        Self::commit(tx, audit).await
    }

    pub(crate) async fn do_marking_changes(
        &self,
        community: Uuid,
        object_id: &str,
    ) -> R<Vec<MarkingChange>> {
        let found = sqlx::query("SELECT * FROM marking_changes WHERE community_id = $1 AND object_id = $2 ORDER BY at, id")
            .bind(community.to_string())
            .bind(object_id.to_string())
            .fetch_all(self.pool())
            .await
            .map_err(m)?;
        found
            .iter()
            .map(|r| {
                let level = |col: &str| {
                    let t = rows::text(r, col)?;
                    TlpLevel::parse(&t)
                        .ok_or_else(|| StoreError::Internal(format!("column {col}: `{t}`")))
                };
                Ok(MarkingChange {
                    id: rows::uuid(r, "id")?,
                    community_id: rows::uuid(r, "community_id")?,
                    object_id: rows::text(r, "object_id")?,
                    changed_by: rows::opt_uuid(r, "changed_by")?,
                    org_id: rows::uuid(r, "org_id")?,
                    from_tlp: level("from_tlp")?,
                    to_tlp: level("to_tlp")?,
                    audience_before: from_json(
                        "audience_before",
                        &rows::text(r, "audience_before")?,
                    )?,
                    audience_after: from_json("audience_after", &rows::text(r, "audience_after")?)?,
                    new_version: rows::opt_text(r, "new_version")?,
                    reason: rows::text(r, "reason")?,
                    release_request: rows::opt_uuid(r, "release_request")?,
                    at: rows::at(r, "at")?,
                })
            })
            .collect()
    }

    pub(crate) async fn do_create_release_request(
        &self,
        r: &ReleaseRequest,
        notify: &[Notification],
        audit: AuditEvent,
    ) -> R<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO release_requests (id, community_id, object_id, source_org, requester_user, requester_org, body, status, created_at, decided_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $10)")
            .bind(r.id.to_string())
            .bind(r.community_id.to_string())
            .bind(r.object_id.clone())
            .bind(r.source_org.to_string())
            .bind(r.requester_user.to_string())
            .bind(r.requester_org.to_string())
            .bind(json(r)?)
            .bind(r.status.as_str())
            .bind(ts::format(r.created_at))
            .bind(r.version)
            .execute(&mut *tx)
            .await
            .map_err(m)?;
        insert_notifications(&mut tx, notify).await?;
        Self::commit(tx, audit).await
    }

    pub(crate) async fn do_release_request(&self, id: Uuid) -> R<Option<ReleaseRequest>> {
        sqlx::query("SELECT body FROM release_requests WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.pool())
            .await
            .map_err(m)?
            .as_ref()
            .map(request_row)
            .transpose()
    }

    pub(crate) async fn do_release_requests(&self, q: &ReleaseQuery) -> R<Vec<ReleaseRequest>> {
        let mut sql = Sql::default();
        sql.push("SELECT body FROM release_requests WHERE 1 = 1");
        if let Some(o) = q.source_org {
            let p = sql.text(o.to_string());
            sql.push(&format!(" AND source_org = {p}"));
        }
        if let Some(o) = q.requester_org {
            let p = sql.text(o.to_string());
            sql.push(&format!(" AND requester_org = {p}"));
        }
        if let Some(s) = q.status {
            let p = sql.text(s.as_str());
            sql.push(&format!(" AND status = {p}"));
        }
        let l = sql.int(q.limit);
        sql.push(&format!(" ORDER BY created_at DESC, id LIMIT {l}"));
        sql.query()
            .fetch_all(self.pool())
            .await
            .map_err(m)?
            .iter()
            .map(request_row)
            .collect()
    }

    pub(crate) async fn do_decide_release_request(
        &self,
        r: &ReleaseRequest,
        notify: &[Notification],
        audit: AuditEvent,
    ) -> R<()> {
        let mut tx = self.begin_write().await?;
        update_request(&mut tx, r).await?;
        insert_notifications(&mut tx, notify).await?;
        Self::commit(tx, audit).await
    }

    pub(crate) async fn do_notifications(
        &self,
        user: Uuid,
        viewers: &[(Uuid, Viewer)],
        unread_only: bool,
        limit: i64,
    ) -> R<Vec<Notification>> {
        let mut sql = Sql::default();
        let u = sql.text(user.to_string());
        // About an object: only while the user may see a version of it, by the rule.
        let mut visible = Vec::new();
        for (community, viewer) in viewers {
            let c = sql.text(community.to_string());
            let ent = entitlement(&mut sql, viewer, "o");
            visible.push(format!("(n.community_id = {c} AND {ent})"));
        }
        let visible = if visible.is_empty() {
            "1 = 0".to_string()
        } else {
            visible.join(" OR ")
        };
        sql.push(&format!(
            "SELECT n.* FROM notifications n WHERE n.user_id = {u} AND (n.object_id IS NULL OR EXISTS (SELECT 1 FROM stix_objects o WHERE {} AND ({visible})))",
            crate::objects::versions_of(self.engine(), "o", "n.community_id", "n.object_id")
        ));
        if unread_only {
            sql.push(" AND n.read_at IS NULL");
        }
        let l = sql.int(limit);
        sql.push(&format!(" ORDER BY n.created_at DESC, n.id LIMIT {l}"));
        sql.query()
            .fetch_all(self.pool())
            .await
            .map_err(m)?
            .iter()
            .map(|r| {
                Ok(Notification {
                    id: rows::uuid(r, "id")?,
                    user_id: rows::uuid(r, "user_id")?,
                    community_id: rows::opt_uuid(r, "community_id")?,
                    object_id: rows::opt_text(r, "object_id")?,
                    kind: rows::text(r, "kind")?,
                    body: from_json("body", &rows::text(r, "body")?)?,
                    created_at: rows::at(r, "created_at")?,
                    read_at: rows::opt_at(r, "read_at")?,
                })
            })
            .collect()
    }

    pub(crate) async fn do_mark_notifications_read(
        &self,
        user: Uuid,
        ids: &[Uuid],
        at: OffsetDateTime,
    ) -> R<u64> {
        let mut n = 0;
        for id in ids {
            n += sqlx::query("UPDATE notifications SET read_at = $1 WHERE id = $2 AND user_id = $3 AND read_at IS NULL")
                .bind(ts::format(at))
                .bind(id.to_string())
                .bind(user.to_string())
                .execute(self.pool())
                .await
                .map_err(m)?
                .rows_affected();
        }
        Ok(n)
    }

    pub(crate) async fn do_reviews_due(
        &self,
        viewer: &Viewer,
        community: Uuid,
        org: Uuid,
        before: OffsetDateTime,
        limit: i64,
    ) -> R<Vec<ReviewDue>> {
        let mut sql = Sql::default();
        let c = sql.text(community.to_string());
        let ent = entitlement(&mut sql, viewer, "o");
        let o = sql.text(org.to_string());
        let b = sql.text(ts::format(before));
        let l = sql.int(limit);
        sql.push(&format!(
            "SELECT o.object_id, o.object_type, o.tlp, COALESCE((SELECT MAX(mc.at) FROM marking_changes mc WHERE mc.community_id = o.community_id AND mc.object_id = o.object_id), o.date_added) AS decided_at \
             FROM stix_objects o WHERE o.community_id = {c} AND {ent} AND o.source_org = {o} AND o.superseded = 0 AND o.revoked = 0 \
             AND o.tlp IN ('amber', 'amber_strict', 'red') AND o.date_added < {b} \
             AND NOT EXISTS (SELECT 1 FROM marking_changes mc WHERE mc.community_id = o.community_id AND mc.object_id = o.object_id AND mc.at >= {b}) \
             AND NOT EXISTS (SELECT 1 FROM marking_reviews r WHERE r.community_id = o.community_id AND r.object_id = o.object_id AND r.reminded_at >= {b}) \
             ORDER BY o.seq LIMIT {l}"
        ));
        sql.query()
            .fetch_all(self.pool())
            .await
            .map_err(m)?
            .iter()
            .map(|r| {
                let t = rows::text(r, "tlp")?;
                Ok(ReviewDue {
                    object_id: rows::text(r, "object_id")?,
                    object_type: rows::text(r, "object_type")?,
                    tlp: TlpLevel::parse(&t)
                        .ok_or_else(|| StoreError::Internal(format!("column tlp: `{t}`")))?,
                    decided_at: rows::at(r, "decided_at")?,
                })
            })
            .collect()
    }

    pub(crate) async fn do_record_review_reminders(
        &self,
        community: Uuid,
        object_ids: &[String],
        at: OffsetDateTime,
        notify: &[Notification],
    ) -> R<()> {
        let mut tx = self.begin_write_plain().await?;
        for id in object_ids {
            sqlx::query("DELETE FROM marking_reviews WHERE community_id = $1 AND object_id = $2")
                .bind(community.to_string())
                .bind(id.clone())
                .execute(&mut *tx)
                .await
                .map_err(m)?;
            sqlx::query(
                "INSERT INTO marking_reviews (community_id, object_id, reminded_at) VALUES ($1, $2, $3)",
            )
            .bind(community.to_string())
            .bind(id.clone())
            .bind(ts::format(at))
            .execute(&mut *tx)
            .await
            .map_err(m)?;
        }
        insert_notifications(&mut tx, notify).await?;
        tx.commit().await.map_err(m)?;
        Ok(())
    }
}
