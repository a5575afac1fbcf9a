//! `wait_until`: the one bounded wait for a condition that nothing announces (a record field
//! another process writes, a process that exits without being our child).
//!
//! Owns only the timing: probe at once, then again after a pause that doubles up to a cap,
//! and once more at the deadline. It must never decide *what* to wait for, and never wait
//! without a deadline unless the caller says so with [`FOREVER`] (a supervisor waiting for
//! its agent). Where something can announce the change (a pipe, a child to `waitpid`), block
//! on that instead.

use std::thread::sleep;
use std::time::{Duration, Instant};

/// A deadline that never comes: for a supervisor that waits as long as its agent lives.
pub const FOREVER: Duration = Duration::MAX;

/// How often to look: the first pause, doubled after each look up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
}

impl Backoff {
    /// 5 ms doubling to 50 ms: for a record another process is about to write.
    pub const QUICK: Backoff = Backoff::new(Duration::from_millis(5), Duration::from_millis(50));

    pub const fn new(first: Duration, max: Duration) -> Backoff {
        Backoff { first, max }
    }

    /// The same pause every time (a probe that is costly, like a scan of `/proc`).
    pub const fn every(pause: Duration) -> Backoff {
        Backoff::new(pause, pause)
    }
}

/// Calls `probe` until it returns `Some`, for at most `within` (then once more at the
/// deadline); `None` if it never did. Pauses between calls as `backoff` says, never past the
/// deadline.
pub fn wait_until<T>(
    within: Duration,
    backoff: Backoff,
    mut probe: impl FnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now().checked_add(within);
    let mut pause = backoff.first;
    loop {
        if let Some(found) = probe() {
            return Some(found);
        }
        match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return None;
                }
                sleep(pause.min(left));
            }
            None => sleep(pause),
        }
        pause = (pause * 2).min(backoff.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_the_first_value_found() {
        let mut n = 0;
        let got = wait_until(
            Duration::from_secs(5),
            Backoff::every(Duration::ZERO),
            || {
                n += 1;
                (n == 3).then_some(n)
            },
        );
        assert_eq!(got, Some(3));
    }

    #[test]
    fn gives_up_at_the_deadline_after_a_last_look() {
        let mut looks = 0;
        let got: Option<()> = wait_until(Duration::ZERO, Backoff::QUICK, || {
            looks += 1;
            None
        });
        assert_eq!(got, None);
        assert_eq!(looks, 1);
        let mut looks = 0;
        let got: Option<()> = wait_until(
            Duration::from_millis(30),
            Backoff::every(Duration::from_millis(10)),
            || {
                looks += 1;
                None
            },
        );
        assert_eq!(got, None);
        assert!(looks >= 2, "looked {looks} times");
    }

    #[test]
    fn forever_does_not_overflow() {
        let mut n = 0;
        let got = wait_until(FOREVER, Backoff::every(Duration::ZERO), || {
            n += 1;
            (n > 2).then_some(())
        });
        assert_eq!(got, Some(()));
    }
}
