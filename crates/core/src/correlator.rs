//! The correlation worker. A publish stores its objects and answers; what it tells others runs
//! here, one job after another, on a task of the node's runtime: the notices to the sources of
//! objects that feedback it published is about (see [`crate::feedback`]), and the lookup of the
//! values it published among objects the poster may not see, with the notices to their sources
//! (see [`crate::search`]).
//!
//! The queue is short ([`QUEUE`] publishes): a publish waits for room when the worker is that
//! far behind, so a sustained stream of publishes pays for its correlation and nothing piles up
//! in memory. [`Cairn::settle_correlation`] waits until every job queued before it is done; the
//! node calls it when it stops, `cairn import` when it ends, and tests before they read notices.
//! Where no runtime runs (or the worker has stopped), a job runs in the publish itself.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::model::{Actor, Community, TlpLevel};
use crate::search::ValueKind;
use crate::service::Cairn;
use crate::sharing::{Audience, Viewer};

/// Publishes the worker may be behind before a publish waits for it.
pub const QUEUE: usize = 8;

/// What one publish stored that others are told about.
#[derive(Debug)]
pub(crate) struct PublishJob {
    pub(crate) actor: Actor,
    pub(crate) community: Community,
    /// The organizations that are members of `community`.
    pub(crate) members: BTreeSet<Uuid>,
    /// The poster, as a viewer of `community`.
    pub(crate) viewer: Viewer,
    /// Each published value, with how and where this publish stored it.
    pub(crate) values: BTreeMap<(ValueKind, String), PublishedAt>,
    /// The feedback objects it stored (sightings, opinions, notes about other objects).
    pub(crate) feedback: Vec<PostedFeedback>,
}

/// A feedback object a publish stored, as its notices need it.
#[derive(Debug)]
pub(crate) struct PostedFeedback {
    pub(crate) object_id: String,
    pub(crate) object_type: String,
    /// The objects it is about.
    pub(crate) refs: Vec<String>,
    pub(crate) tlp: TlpLevel,
    pub(crate) audience: Audience,
    pub(crate) anonymous: bool,
}

/// The TLP levels a publish stored a value at, and its store rows that hold the value.
#[derive(Debug, Default)]
pub(crate) struct PublishedAt {
    pub(crate) levels: BTreeSet<TlpLevel>,
    pub(crate) seqs: Vec<i64>,
}

#[derive(Debug)]
enum Work {
    Notify(Box<PublishJob>),
    Settle(oneshot::Sender<()>),
}

/// The worker's queue, started by the first job (on the runtime that runs it).
#[derive(Debug, Default)]
pub(crate) struct Correlator {
    queue: OnceLock<mpsc::Sender<Work>>,
    counts: Arc<Counts>,
}

/// Jobs submitted and jobs finished since the node started.
#[derive(Debug, Default)]
struct Counts {
    submitted: AtomicU64,
    finished: AtomicU64,
}

impl Counts {
    fn finish(&self) {
        self.finished.fetch_add(1, Ordering::Release);
    }
}

/// How far the correlation worker has come (for `/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CorrelationProgress {
    /// Publishes whose values were queued for correlation.
    pub submitted: u64,
    /// Of those, the ones whose lookup and notices are done (or failed and were logged).
    pub finished: u64,
}

impl Correlator {
    /// Queue a job; run it here when there is no worker to take it.
    pub(crate) async fn submit(&self, cairn: &Cairn, job: PublishJob) {
        self.counts.submitted.fetch_add(1, Ordering::Release);
        let Some(queue) = self.queue(cairn) else {
            cairn.run_publish_job(job).await;
            return self.counts.finish();
        };
        if let Err(mpsc::error::SendError(Work::Notify(job))) =
            queue.send(Work::Notify(Box::new(job))).await
        {
            tracing::warn!("the correlation worker has stopped; correlating in the publish");
            cairn.run_publish_job(*job).await;
            self.counts.finish();
        }
    }

    fn queue(&self, cairn: &Cairn) -> Option<&mpsc::Sender<Work>> {
        if let Some(queue) = self.queue.get() {
            return Some(queue);
        }
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        Some(self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            // The worker's own service has no queue of its own, so the worker holds no sender
            // and ends when the last service sharing this queue is dropped.
            runtime.spawn(run(cairn.detached(), receiver, self.counts.clone()));
            sender
        }))
    }

    async fn settle(&self) {
        let Some(queue) = self.queue.get() else {
            return;
        };
        let (done, finished) = oneshot::channel();
        if queue.send(Work::Settle(done)).await.is_ok() {
            let _ = finished.await;
        }
    }
}

async fn run(cairn: Cairn, mut receiver: mpsc::Receiver<Work>, counts: Arc<Counts>) {
    while let Some(work) = receiver.recv().await {
        match work {
            Work::Notify(job) => {
                cairn.run_publish_job(*job).await;
                counts.finish();
            }
            Work::Settle(done) => {
                let _ = done.send(());
            }
        }
    }
}

impl Cairn {
    /// Wait until the correlation notices of every publish that has answered are written.
    pub async fn settle_correlation(&self) {
        self.correlator().settle().await;
    }

    /// Publishes queued for correlation and finished, since the node started.
    pub fn correlation_progress(&self) -> CorrelationProgress {
        let counts = &self.correlator().counts;
        CorrelationProgress {
            submitted: counts.submitted.load(Ordering::Acquire),
            finished: counts.finished.load(Ordering::Acquire),
        }
    }
}
