//! Reading a hook's stdin without ever waiting for the harness to close it.
//!
//! A harness may keep stdin open after writing its JSON object, or never write at all; a hook
//! that reads to end-of-file then hangs until the agent kills it. So the reader stops at the
//! first of: end of file, the end of the first complete JSON value, a deadline after the first
//! byte, a deadline with no byte at all, or a size cap. It never blocks the caller longer than
//! the deadlines: the blocking `read` runs on a helper thread that is simply abandoned when a
//! deadline passes (the hook process exits soon after).

use std::io::Read;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long the reader waits, and how much it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StdinLimits {
    /// Give up when no byte at all has arrived by then.
    pub first_byte: Duration,
    /// Stop this long after the first byte, complete or not.
    pub after_first_byte: Duration,
    /// Stop after this many bytes (hook JSON is a few kilobytes).
    pub max_bytes: usize,
}

impl Default for StdinLimits {
    fn default() -> Self {
        StdinLimits {
            first_byte: Duration::from_millis(2000),
            after_first_byte: Duration::from_millis(500),
            max_bytes: 4 * 1024 * 1024,
        }
    }
}

/// Why reading stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The writer closed stdin.
    Eof,
    /// A complete JSON value (or text that can never become one) was read; stdin may still
    /// be open.
    Complete,
    /// No byte arrived within [`StdinLimits::first_byte`].
    NothingArrived,
    /// Bytes arrived but no complete value within [`StdinLimits::after_first_byte`].
    Incomplete,
    /// [`StdinLimits::max_bytes`] reached.
    TooLarge,
}

/// Reads `reader` within `limits`; returns the bytes read (at most up to the end of the first
/// JSON value) and why it stopped. A read error counts as end of file.
pub fn read_with_deadline<R: Read + Send + 'static>(
    reader: R,
    limits: StdinLimits,
) -> (Vec<u8>, Stop) {
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    // Detached on purpose: if the harness never closes stdin this thread stays blocked in
    // `read` until the process exits.
    std::thread::spawn(move || {
        let mut reader = reader;
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match reader.read(&mut chunk) {
                Ok(0) | Err(_) => {
                    let _ = tx.send(Vec::new());
                    return;
                }
                Ok(n) => {
                    if tx.send(chunk[..n].to_vec()).is_err() {
                        return;
                    }
                }
            }
        }
    });

    let start = Instant::now();
    let mut deadline = start + limits.first_byte;
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = match rx.recv_timeout(left) {
            Ok(chunk) => chunk,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let why = if buf.is_empty() {
                    Stop::NothingArrived
                } else {
                    Stop::Incomplete
                };
                return (buf, why);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return (buf, Stop::Eof),
        };
        if chunk.is_empty() {
            return (buf, Stop::Eof);
        }
        if buf.is_empty() {
            deadline = Instant::now() + limits.after_first_byte;
        }
        buf.extend_from_slice(&chunk);
        if let Some(end) = first_value_end(&buf) {
            buf.truncate(end);
            return (buf, Stop::Complete);
        }
        if buf.len() >= limits.max_bytes {
            buf.truncate(limits.max_bytes);
            return (buf, Stop::TooLarge);
        }
    }
}

/// Where the first JSON value in `buf` ends (a leading BOM and whitespace allowed), or the
/// length of `buf` when it can never become valid JSON; `None` while it is a valid prefix.
fn first_value_end(buf: &[u8]) -> Option<usize> {
    let bom = if buf.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let mut values =
        serde_json::Deserializer::from_slice(&buf[bom..]).into_iter::<serde::de::IgnoredAny>();
    match values.next() {
        Some(Ok(_)) => Some(bom + values.byte_offset()),
        Some(Err(e)) if e.is_eof() => None,
        Some(Err(_)) => Some(buf.len()),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn quick() -> StdinLimits {
        StdinLimits {
            first_byte: Duration::from_millis(50),
            after_first_byte: Duration::from_millis(50),
            max_bytes: 1024,
        }
    }

    #[test]
    fn stops_at_the_end_of_the_first_value() {
        let (buf, why) = read_with_deadline(Cursor::new(b"{\"a\":1}\n{\"b\":2}".to_vec()), quick());
        assert_eq!(buf, b"{\"a\":1}");
        assert_eq!(why, Stop::Complete);
    }

    #[test]
    fn a_bom_and_leading_space_are_kept() {
        let input = b"\xEF\xBB\xBF  {\"a\":[1,2]} trailing".to_vec();
        let (buf, why) = read_with_deadline(Cursor::new(input), quick());
        assert_eq!(buf, b"\xEF\xBB\xBF  {\"a\":[1,2]}");
        assert_eq!(why, Stop::Complete);
    }

    #[test]
    fn empty_and_truncated_input_end_at_eof() {
        assert_eq!(
            read_with_deadline(Cursor::new(Vec::new()), quick()),
            (Vec::new(), Stop::Eof)
        );
        let (buf, why) = read_with_deadline(Cursor::new(b"{\"a\":".to_vec()), quick());
        assert_eq!((buf.as_slice(), why), (&b"{\"a\":"[..], Stop::Eof));
    }

    #[test]
    fn garbage_stops_at_once() {
        let (buf, why) = read_with_deadline(Cursor::new(b"not json".to_vec()), quick());
        assert_eq!((buf.as_slice(), why), (&b"not json"[..], Stop::Complete));
    }

    /// A reader that yields its bytes and then blocks forever, like a pipe left open.
    struct OpenPipe(Option<Vec<u8>>);
    impl Read for OpenPipe {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            match self.0.take() {
                Some(bytes) => {
                    out[..bytes.len()].copy_from_slice(&bytes);
                    Ok(bytes.len())
                }
                None => loop {
                    std::thread::park();
                },
            }
        }
    }

    #[test]
    fn an_open_pipe_never_holds_the_reader() {
        let (buf, why) = read_with_deadline(OpenPipe(Some(b"{\"a\":1}".to_vec())), quick());
        assert_eq!((buf.as_slice(), why), (&b"{\"a\":1}"[..], Stop::Complete));
        let (buf, why) = read_with_deadline(OpenPipe(Some(b"{\"a\":".to_vec())), quick());
        assert_eq!((buf.as_slice(), why), (&b"{\"a\":"[..], Stop::Incomplete));
        let (buf, why) = read_with_deadline(OpenPipe(None), quick());
        assert_eq!((buf.len(), why), (0, Stop::NothingArrived));
    }

    #[test]
    fn a_cap_stops_a_flood() {
        let flood = [b"[".repeat(10), b"1,".repeat(2000)].concat();
        let (buf, why) = read_with_deadline(Cursor::new(flood), quick());
        assert_eq!((buf.len(), why), (1024, Stop::TooLarge));
    }
}
