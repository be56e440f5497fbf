//! `cairn taxii pull`: copy a collection of another TAXII 2.1 server (another Cairn, or anyone's)
//! into a community, as a given user. Follows `next` (or `added_after` when the server gives no
//! `next`) and remembers the last `X-TAXII-Date-Added-Last`, so a repeated pull fetches only
//! what is new.

use anyhow::{anyhow, bail, Context, Result};
use cairn_core::model::Actor;
use cairn_core::Cairn;

use crate::transfer::Totals;

const TAXII: &str = "application/taxii+json;version=2.1";

/// Where to pull from and how to log in there.
#[derive(Debug)]
pub struct Source {
    /// The API root URL, e.g. `https://cti.example/taxii2/feed/`.
    pub api_root: String,
    pub collection: String,
    pub user: Option<String>,
    pub token: Option<String>,
}

pub async fn pull(
    cairn: &Cairn,
    source: &Source,
    community: &str,
    username: &str,
) -> Result<Totals> {
    let user = cairn
        .store()
        .user_by_name(username)
        .await?
        .ok_or_else(|| anyhow!("user: no user `{username}`"))?;
    let actor = Actor::for_user(&user);
    let root = if source.api_root.ends_with('/') {
        source.api_root.clone()
    } else {
        format!("{}/", source.api_root)
    };
    let objects_url = format!("{root}collections/{}/objects/", source.collection);
    let key = format!("{objects_url} -> {community}");
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .build()?;
    let mut added_after = cairn.store().pull_position(&key).await?;
    let mut next: Option<String> = None;
    let mut totals = Totals::default();
    loop {
        let mut req = client
            .get(&objects_url)
            .header("accept", TAXII)
            .query(&[("limit", "1000")]);
        if let Some(n) = &next {
            req = req.query(&[("next", n.as_str())]);
        }
        if let Some(a) = &added_after {
            req = req.query(&[("added_after", a.as_str())]);
        }
        req = match (&source.user, &source.token) {
            (Some(u), t) => req.basic_auth(u, t.clone()),
            (None, Some(t)) => req.bearer_auth(t),
            (None, None) => req,
        };
        let resp = req
            .send()
            .await
            .with_context(|| format!("fetching {objects_url}"))?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            bail!(
                "{objects_url} answered {status}: {}",
                text.chars().take(300).collect::<String>()
            );
        }
        let last = resp
            .headers()
            .get("x-taxii-date-added-last")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = resp.bytes().await?;
        let envelope: serde_json::Value =
            serde_json::from_slice(&body).context("the server did not send JSON")?;
        let more = envelope
            .get("more")
            .and_then(|m| m.as_bool())
            .unwrap_or(false);
        let next_token = envelope
            .get("next")
            .and_then(|n| n.as_str())
            .map(str::to_string);
        let objects = if envelope.get("objects").is_some() {
            cairn_stix::parse_envelope(&body)
                .map_err(|e| anyhow!("the envelope from {objects_url}: {e}"))?
        } else {
            Vec::new()
        };
        let count = objects.len();
        if count > 0 {
            let report = cairn
                .share_parsed(&actor, community, objects, Default::default())
                .await?;
            for r in totals.add(&report) {
                eprintln!("refused {}: {}", r.id, r.message.as_deref().unwrap_or(""));
            }
        }
        if let Some(l) = &last {
            cairn.store().set_pull_position(&key, l).await?;
        }
        if !more || count == 0 {
            break;
        }
        match next_token {
            Some(n) => next = Some(n),
            None => {
                next = None;
                added_after = last.or(added_after);
            }
        }
    }
    Ok(totals)
}
