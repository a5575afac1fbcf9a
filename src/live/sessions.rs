//! The sessions of a [`Snapshot`](super::Snapshot) by id: a sorted map cut into small shared
//! chunks. The next look clones the list of chunk pointers and copies only the chunks whose
//! sessions it changes, so a look costs about the square root of the number of sessions, not
//! the number, and two looks share every session that did not change.

use std::sync::Arc;

use super::SessionSnap;

/// A chunk is split when it grows past twice this many sessions.
const CHUNK: usize = 32;

type Chunk = Arc<Vec<Arc<SessionSnap>>>;

/// Sessions in id order; an id is its session's `overview.id`. No chunk is empty.
#[derive(Clone, Default)]
pub struct Sessions {
    chunks: Vec<Chunk>,
    len: usize,
}

fn id(s: &SessionSnap) -> &str {
    &s.overview.id
}

impl Sessions {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get(&self, key: &str) -> Option<&Arc<SessionSnap>> {
        let chunk = self.chunks.get(self.chunk_of(key))?;
        let at = chunk.binary_search_by(|s| id(s).cmp(key)).ok()?;
        chunk.get(at)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// `(id, session)` in id order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Arc<SessionSnap>)> {
        self.values().map(|s| (id(s), s))
    }

    /// The sessions in id order.
    pub fn values(&self) -> impl Iterator<Item = &Arc<SessionSnap>> {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    /// The first chunk whose last id is not before `key`: where `key` is or would go (the
    /// number of chunks when it is after all of them).
    fn chunk_of(&self, key: &str) -> usize {
        self.chunks
            .partition_point(|c| c.last().is_some_and(|s| id(s) < key))
    }

    /// Puts `snap` in under its id, replacing the session of that id.
    pub(super) fn insert(&mut self, snap: Arc<SessionSnap>) {
        let i = self
            .chunk_of(id(&snap))
            .min(self.chunks.len().saturating_sub(1));
        let Some(chunk) = self.chunks.get_mut(i) else {
            self.chunks.push(Arc::new(vec![snap]));
            self.len = 1;
            return;
        };
        let chunk = Arc::make_mut(chunk);
        match chunk.binary_search_by(|s| id(s).cmp(id(&snap))) {
            Ok(at) => chunk[at] = snap,
            Err(at) => {
                chunk.insert(at, snap);
                self.len += 1;
                if chunk.len() > 2 * CHUNK {
                    let tail = chunk.split_off(CHUNK);
                    self.chunks.insert(i + 1, Arc::new(tail));
                }
            }
        }
    }

    /// Takes out the session `key`, if there is one.
    pub(super) fn remove(&mut self, key: &str) {
        let i = self.chunk_of(key);
        let Some(chunk) = self.chunks.get_mut(i) else {
            return;
        };
        let Ok(at) = chunk.binary_search_by(|s| id(s).cmp(key)) else {
            return;
        };
        let c = Arc::make_mut(chunk);
        c.remove(at);
        self.len -= 1;
        if c.is_empty() {
            self.chunks.remove(i);
        } else if let Some(next) = self.chunks.get(i + 1)
            && self.chunks[i].len() + next.len() <= CHUNK
        {
            // Many removals must not leave many tiny chunks behind.
            let next = self.chunks.remove(i + 1);
            Arc::make_mut(&mut self.chunks[i]).extend(next.iter().cloned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::Checklist;
    use crate::overview::Overview;
    use std::collections::BTreeMap;
    use std::path::Path;

    fn snap(id: &str, hash: u64) -> Arc<SessionSnap> {
        let path = format!("{id}.md");
        Arc::new(SessionSnap {
            overview: Overview::new(
                Path::new(&path),
                path.clone(),
                None,
                chrono::Utc::now(),
                std::time::Duration::ZERO,
            ),
            linear_issue: None,
            hash,
            diagnostics: Vec::new(),
            checklist: Checklist::default(),
        })
    }

    /// Inserting, replacing and removing in any order gives what a `BTreeMap` gives, and a
    /// clone changed afterwards leaves the original as it was.
    #[test]
    fn sessions_behave_as_a_sorted_map() {
        let mut model = BTreeMap::new();
        let mut s = Sessions::default();
        let mut rng = 0x5E55_u64;
        let mut next = || {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (rng >> 33) as usize
        };
        for step in 0..6000u64 {
            let key = format!("k{:04}", next() % 400);
            if next() % 3 == 0 {
                s.remove(&key);
                model.remove(&key);
            } else {
                s.insert(snap(&key, step));
                model.insert(key, step);
            }
            if step % 500 == 0 {
                let before: Vec<(String, u64)> =
                    s.iter().map(|(k, v)| (k.to_string(), v.hash)).collect();
                let copy = s.clone();
                s.insert(snap("k0000", u64::MAX));
                s.remove("k0001");
                let after: Vec<(String, u64)> =
                    copy.iter().map(|(k, v)| (k.to_string(), v.hash)).collect();
                assert_eq!(before, after);
                s = copy;
            }
            assert_eq!(s.len(), model.len());
            assert!(
                s.chunks
                    .iter()
                    .all(|c| !c.is_empty() && c.len() <= 2 * CHUNK)
            );
        }
        let got: Vec<(String, u64)> = s.iter().map(|(k, v)| (k.to_string(), v.hash)).collect();
        let want: Vec<(String, u64)> = model.iter().map(|(k, v)| (k.clone(), *v)).collect();
        assert_eq!(got, want);
        for k in 0..400 {
            let key = format!("k{k:04}");
            assert_eq!(s.get(&key).map(|v| v.hash), model.get(&key).copied());
        }
    }
}
