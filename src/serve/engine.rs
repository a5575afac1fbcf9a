//! The live engine on its own thread, for the server: the same [`Feed`] and [`Tracker`]
//! `watch` uses, publishing the newest [`Snapshot`] and each batch of [`Event`]s to the async
//! side. Blocking file reads stay off the runtime's thread.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use crate::error::Result;
use crate::live::{Changes, Event, Feed, Msg, Snapshot, Tracker, diff, settle};
use crate::store::Repo;

/// How often ages, stale markers and runtimes are refreshed when nothing changes.
const TICK: Duration = Duration::from_secs(15);

/// One look's worth of news.
pub struct Batch {
    pub events: Vec<Event>,
    /// The paths the file-system events named (log files among them).
    pub paths: HashSet<PathBuf>,
    /// The look covered everything (a tick, a rescan): followers should look too.
    pub all: bool,
}

pub struct Live {
    pub snapshot: watch::Receiver<Arc<Snapshot>>,
    pub batches: broadcast::Sender<Arc<Batch>>,
}

impl Live {
    /// Takes the first look (so the first page has something to show), then follows.
    pub fn start(repo: Repo) -> Result<Live> {
        let (tx, rx) = mpsc::channel();
        let mut feed = Feed::new(&repo.agents_dir(), tx)?;
        feed.ensure();
        let mut tracker = Tracker::default();
        let first = tracker.snapshot(&repo, chrono::Utc::now(), &Changes::everything(), None)?;
        let (snap_tx, snap_rx) = watch::channel(Arc::new(first));
        let (batch_tx, _) = broadcast::channel(256);
        let batches = batch_tx.clone();
        std::thread::Builder::new()
            .name("live".into())
            .spawn(move || follow(repo, feed, rx, tracker, snap_tx, batch_tx))
            .map_err(|e| crate::error::Error::Usage(format!("cannot start a thread: {e}")))?;
        Ok(Live {
            snapshot: snap_rx,
            batches,
        })
    }
}

fn follow(
    repo: Repo,
    mut feed: Feed,
    rx: mpsc::Receiver<Msg>,
    mut tracker: Tracker,
    snap_tx: watch::Sender<Arc<Snapshot>>,
    batch_tx: broadcast::Sender<Arc<Batch>>,
) {
    loop {
        let mut changes = match rx.recv_timeout(TICK) {
            Ok(Msg::Quit) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
            Err(mpsc::RecvTimeoutError::Timeout) => Changes::everything(),
            Ok(Msg::Changed(paths)) => {
                let mut c = Changes::default();
                c.add(paths);
                if settle(&rx, &mut c) {
                    return;
                }
                c
            }
        };
        if !feed.is_watching() {
            changes.all = true;
        }
        feed.ensure();
        let old = snap_tx.borrow().clone();
        let Ok(next) = tracker.snapshot(&repo, chrono::Utc::now(), &changes, Some(&old)) else {
            continue;
        };
        let events = diff(&old, &next);
        let batch = Batch {
            events,
            all: changes.all,
            paths: changes.paths,
        };
        snap_tx.send_replace(Arc::new(next));
        let _ = batch_tx.send(Arc::new(batch));
    }
}
