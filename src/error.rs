//! The library's error type. Every variant is a sentence a person can act on, and knows its exit
//! code: 1 when a check failed, 2 for usage and environment problems (SPEC §5).

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad arguments or an environment we cannot work in.
    #[error("{0}")]
    Usage(String),
    /// A check failed: the message explains it. Exit code 1.
    #[error("{0}")]
    Check(String),
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is not valid UTF-8 (first bad byte at offset {offset}); fix its encoding in an editor", path.display())]
    NotUtf8 { path: PathBuf, offset: usize },
    #[error("{} is {kind}, not a regular file; sessions does not open it (remove it or replace it with a session file)", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{} is {size} bytes, over the {limit}-byte limit for session files; trim it", path.display())]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Check(_) => 1,
            _ => 2,
        }
    }

    pub fn read(path: &Path, source: std::io::Error) -> Self {
        Error::Read {
            path: path.to_path_buf(),
            source,
        }
    }

    pub fn write(path: &Path, source: std::io::Error) -> Self {
        Error::Write {
            path: path.to_path_buf(),
            source,
        }
    }
}
