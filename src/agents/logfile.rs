//! Run logs: capped writing with tail-keeping rotation, tails, and `logs -f`.
//!
//! Rotation design: the agent never writes the log file itself. Its stdout/stderr is a pipe
//! read by the supervisor, which is the log's only writer ([`LogWriter`]). Rotation is
//! therefore race-free: the supervisor copies the last `keep` bytes (cut at a line boundary)
//! after a one-line marker into a temp file in the same directory and renames it over the log,
//! then keeps writing to the new file. Readers see either the old or the new file, never a
//! half-truncated one; [`follow`] notices the replacement (inode change) and continues in the
//! new file without repeating output. No older generation is kept: the log stays below about
//! `cap` bytes. (Truncating in place while the agent appends with `O_APPEND` would race:
//! bytes written between the copy and the truncate would be lost.)

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default log cap: 50 MB.
pub const DEFAULT_LOG_CAP: u64 = 50 * 1024 * 1024;

/// Default bytes kept at rotation for a cap: half of it.
pub fn default_keep(cap: u64) -> u64 {
    cap / 2
}

fn marker(dropped: u64) -> String {
    format!("[… {dropped} bytes rotated away by sessions …]\n")
}

/// Parse the marker line written at rotation: bytes of the previous file not in this one.
pub fn parse_marker(line: &str) -> Option<u64> {
    line.trim_end()
        .strip_prefix("[… ")?
        .strip_suffix(" bytes rotated away by sessions …]")?
        .parse()
        .ok()
}

/// Replace `path` by a marker line plus its last `keep` bytes (starting after a newline when
/// there is one in the kept part). Returns the new file (positioned at its end) and the
/// number of bytes dropped.
fn rotate(path: &Path, keep: u64) -> io::Result<(File, u64)> {
    let mut old = File::open(path)?;
    let meta = old.metadata()?;
    let len = meta.len();
    let start = len.saturating_sub(keep);
    old.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::with_capacity((len - start) as usize);
    old.read_to_end(&mut tail)?;
    let cut = if start == 0 {
        0
    } else {
        match tail.iter().position(|&b| b == b'\n') {
            Some(i) if i + 1 < tail.len() => i + 1,
            _ => 0,
        }
    };
    let dropped = start + cut as u64;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".rotate-")
        .tempfile_in(dir)?;
    tmp.write_all(marker(dropped).as_bytes())?;
    tmp.write_all(&tail[cut..])?;
    tmp.as_file().set_permissions(meta.permissions())?;
    let file = tmp.persist(path).map_err(|e| e.error)?;
    Ok((file, dropped))
}

/// If `path` is larger than `cap` bytes, keep only its last `keep_tail` bytes (cut at a line
/// boundary) behind a marker line. Returns the bytes dropped, or `None` if under the cap.
///
/// Safe only when nobody else is appending to the file (the supervisor's [`LogWriter`] does
/// this itself); a concurrent `O_APPEND` writer would keep writing into the replaced file.
pub fn rotate_if_needed(path: &Path, cap: u64, keep_tail: u64) -> io::Result<Option<u64>> {
    if cap == 0 || fs::metadata(path)?.len() <= cap {
        return Ok(None);
    }
    Ok(Some(rotate(path, keep_tail.min(cap))?.1))
}

/// The single writer of a run log; rotates when the file passes `cap` (0 = never).
#[derive(Debug)]
pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    cap: u64,
    keep: u64,
}

impl LogWriter {
    /// Open (create) `path` for appending.
    pub fn open(path: &Path, cap: u64, keep: u64) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            size,
            cap,
            keep: if cap > 0 { keep.min(cap) } else { keep },
        })
    }

    /// Append `buf`, rotating afterwards if the cap is exceeded.
    pub fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file.write_all(buf)?;
        self.size += buf.len() as u64;
        if self.cap > 0 && self.size > self.cap {
            let (file, _) = rotate(&self.path, self.keep)?;
            self.size = file.metadata()?.len();
            self.file = file;
        }
        Ok(())
    }

    /// Current size of the log in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }
}

/// The last `max` bytes of `path` as text (lossy UTF-8). When the read starts mid-file the
/// partial first line is dropped.
pub fn read_tail(path: &Path, max: u64) -> io::Result<String> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(max);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::with_capacity((len - start) as usize);
    f.read_to_end(&mut buf)?;
    let from = if start > 0 {
        buf.iter().position(|&b| b == b'\n').map_or(0, |i| i + 1)
    } else {
        0
    };
    Ok(String::from_utf8_lossy(&buf[from..]).into_owned())
}

/// The last `n` lines of `path` (without line terminators), reading backwards in blocks.
pub fn tail_lines(path: &Path, n: usize) -> io::Result<Vec<String>> {
    const BLOCK: u64 = 64 * 1024;
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let mut start = len;
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // Newlines in buf, ignoring a trailing one.
        let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let newlines = body.iter().filter(|&&b| b == b'\n').count();
        if newlines >= n || start == 0 {
            break;
        }
        let new_start = start.saturating_sub(BLOCK);
        let mut block = vec![0u8; (start - new_start) as usize];
        f.seek(SeekFrom::Start(new_start))?;
        f.read_exact(&mut block)?;
        block.extend_from_slice(&buf);
        buf = block;
        start = new_start;
    }
    let text = String::from_utf8_lossy(&buf);
    // When start > 0 the first fragment may be partial, but there are more than n lines then.
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let skip = lines.len().saturating_sub(n);
    lines.drain(..skip);
    Ok(lines)
}

/// How often [`follow`] polls.
pub const FOLLOW_POLL: Duration = Duration::from_millis(200);

/// Copy what is appended to `path` from byte `from` on into `out`, until `stop()` returns true
/// (checked every [`FOLLOW_POLL`]; one last read happens after it does). Survives rotation:
/// when the file is replaced it finishes the old one and continues in the new one after the
/// part it already printed. A truncated file is re-read from its start. If the log rotated
/// more than once between two polls, the new file is printed from its start (marker
/// included): the dropped middle cannot be recovered.
pub fn follow(
    path: &Path,
    from: u64,
    out: &mut dyn Write,
    stop: impl Fn() -> bool,
) -> io::Result<()> {
    let mut file = File::open(path)?;
    let mut id = {
        let m = file.metadata()?;
        (m.dev(), m.ino())
    };
    let mut pos = from.min(file.metadata()?.len());
    file.seek(SeekFrom::Start(pos))?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let stopping = stop();
        let before = pos;
        pos += copy_available(&mut file, &mut buf, out)?;
        if let Ok(m) = fs::metadata(path) {
            if (m.dev(), m.ino()) != id {
                // Replaced (rotation): drain the old file, then find our place in the new one.
                pos += copy_available(&mut file, &mut buf, out)?;
                let old_len = pos;
                let mut new = File::open(path)?;
                let nm = new.metadata()?;
                id = (nm.dev(), nm.ino());
                let mut head = [0u8; 256];
                let k = read_up_to(&mut new, &mut head)?;
                let first_len = head[..k].iter().position(|&b| b == b'\n').map(|i| i + 1);
                let dropped = first_len
                    .and_then(|l| std::str::from_utf8(&head[..l]).ok())
                    .and_then(parse_marker);
                pos = match (first_len, dropped) {
                    // Exactly one rotation since our last read: skip what we already printed.
                    (Some(l), Some(d)) if old_len >= d => l as u64 + (old_len - d),
                    _ => 0,
                };
                new.seek(SeekFrom::Start(pos))?;
                file = new;
                pos += copy_available(&mut file, &mut buf, out)?;
            } else if m.len() < pos {
                pos = 0;
                file.seek(SeekFrom::Start(0))?;
                pos += copy_available(&mut file, &mut buf, out)?;
            }
        }
        out.flush()?;
        if stopping {
            return Ok(());
        }
        // While output flows, look again at once: a fast writer rotates the log every few
        // hundred milliseconds, and what rotates away between two looks is gone for us.
        if pos == before {
            std::thread::sleep(FOLLOW_POLL);
        }
    }
}

fn copy_available(file: &mut File, buf: &mut [u8], out: &mut dyn Write) -> io::Result<u64> {
    let mut n = 0u64;
    loop {
        let k = file.read(buf)?;
        if k == 0 {
            return Ok(n);
        }
        out.write_all(&buf[..k])?;
        n += k as u64;
    }
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let k = file.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_tail_at_line_boundary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut w = LogWriter::open(&path, 1000, 300).unwrap();
        for i in 0..200 {
            w.write_all(format!("line {i:04}\n").as_bytes()).unwrap();
        }
        let text = fs::read_to_string(&path).unwrap();
        assert!(text.len() <= 1000, "{}", text.len());
        let first = text.lines().next().unwrap();
        assert!(parse_marker(first).is_some(), "{first}");
        assert!(text.ends_with("line 0199\n"));
        // Every kept line is whole.
        for l in text.lines().skip(1) {
            assert!(l.starts_with("line ") && l.len() == 9, "{l:?}");
        }
        assert_eq!(
            tail_lines(&path, 2).unwrap(),
            vec!["line 0198", "line 0199"]
        );
        assert_eq!(w.size(), fs::metadata(&path).unwrap().len());
    }

    #[test]
    fn rotate_if_needed_standalone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.log");
        fs::write(&path, "aaaa\nbbbb\ncccc\n").unwrap();
        assert_eq!(rotate_if_needed(&path, 100, 10).unwrap(), None);
        let dropped = rotate_if_needed(&path, 10, 7).unwrap().unwrap();
        assert_eq!(dropped, 10);
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "[… 10 bytes rotated away by sessions …]\ncccc\n"
        );
    }

    #[test]
    fn tails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        let body: String = (0..10000).map(|i| format!("{i}\n")).collect();
        fs::write(&path, &body).unwrap();
        assert_eq!(tail_lines(&path, 3).unwrap(), vec!["9997", "9998", "9999"]);
        assert_eq!(tail_lines(&path, 20000).unwrap().len(), 10000);
        assert!(tail_lines(&path, 0).unwrap().is_empty());
        assert_eq!(read_tail(&path, 12).unwrap(), "9998\n9999\n");
        fs::write(&path, "no newline").unwrap();
        assert_eq!(tail_lines(&path, 2).unwrap(), vec!["no newline"]);
    }

    #[test]
    fn follow_survives_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.log");
        let mut w = LogWriter::open(&path, 400, 150).unwrap();
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = {
            let (path, done) = (path.clone(), done.clone());
            std::thread::spawn(move || {
                let mut out = Vec::new();
                follow(&path, 0, &mut out, || {
                    done.load(std::sync::atomic::Ordering::SeqCst)
                })
                .unwrap();
                out
            })
        };
        for i in 0..60 {
            w.write_all(format!("msg {i:03}\n").as_bytes()).unwrap();
            std::thread::sleep(Duration::from_millis(15));
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        let out = String::from_utf8(reader.join().unwrap()).unwrap();
        let expected: String = (0..60).map(|i| format!("msg {i:03}\n")).collect();
        // Possibly with markers in between, but every line exactly once, in order.
        let got: String = out
            .lines()
            .filter(|l| parse_marker(l).is_none())
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(got, expected);
    }
}
