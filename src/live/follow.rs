//! Following a log that grows and rotates: the whole lines added since the last look.

use std::fs;
use std::io::{Read, Seek, SeekFrom};

/// How far one log has been printed.
#[derive(Default)]
pub struct Followed {
    inode: u64,
    offset: u64,
    last_line: Option<Vec<u8>>,
}

impl Followed {
    /// The whole lines added since the last call. Rotation replaces the file (a new inode)
    /// with a marker line and the old file's tail: reading goes on after the last line already
    /// printed, so the kept tail is not printed twice.
    pub fn new_lines(&mut self, mut f: fs::File) -> Vec<String> {
        use std::os::unix::fs::MetadataExt;
        let Ok(meta) = f.metadata() else {
            return Vec::new();
        };
        let mut buf = Vec::new();
        if meta.ino() != self.inode || meta.len() < self.offset {
            let first_look = self.inode == 0;
            self.inode = meta.ino();
            self.offset = 0;
            let _ = f.read_to_end(&mut buf);
            if !first_look && let Some(last) = &self.last_line {
                let mut at = 0;
                for line in buf.split_inclusive(|&b| b == b'\n') {
                    at += line.len();
                    if line.strip_suffix(b"\n") == Some(last.as_slice()) {
                        self.offset = at as u64;
                    }
                }
            }
            buf.drain(..self.offset as usize);
        } else {
            let _ = f.seek(SeekFrom::Start(self.offset));
            let _ = f.read_to_end(&mut buf);
        }
        // Only whole lines; a partial last line waits for its newline.
        let upto = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        self.offset += upto as u64;
        let lines: Vec<&[u8]> = buf[..upto]
            .split_inclusive(|&b| b == b'\n')
            .map(|l| &l[..l.len() - 1])
            .collect();
        if let Some(last) = lines.last() {
            self.last_line = Some(last.to_vec());
        }
        lines
            .iter()
            .map(|l| {
                String::from_utf8_lossy(l)
                    .trim_end_matches('\r')
                    .to_string()
            })
            .collect()
    }
}
