//! The disk spool: chunks ClickHouse could not take (yet), kept until it can.
//!
//! One file per chunk, `{seq:012}-{insert_id}.chunk.json`, holding the
//! serde_json of the [`Chunk`] (its `insert_id` included, so a later delivery
//! can ask ClickHouse whether the chunk already landed). The zero-padded
//! sequence number makes lexical order arrival order, so replay keeps the order
//! rows were produced in.
//!
//! A file appears only complete: it is written under a dot-prefixed `.tmp`
//! name, fsynced, renamed into place and the directory fsynced. A crash leaves
//! at worst a `.tmp` file, which [`list`] ignores; a chunk is never half on
//! disk, so it is either replayed whole or not at all.
//!
//! # Who delivers a spooled chunk
//!
//! Several processes may deliver from one spool at once: two `metrics
//! replay`s, or a run draining what it spooled while a replay runs. Whoever
//! sends a chunk first holds a [`Claim`] on its file — an exclusive `flock`,
//! taken without waiting — from before it reads the file until after it
//! deletes it. Anyone else finds the file busy (and leaves it to the holder)
//! or gone (delivered), never half-handled, so no chunk is sent by two
//! processes at once and none is mistaken for corrupt. A claim is released by
//! the kernel when its process dies, so a crashed replay blocks nothing.
//!
//! [`replay`] delivers what a spool holds, see its docs.

mod replay;

pub use replay::{ReplayReport, replay};

use std::fs::{self, File, TryLockError};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::Chunk;

/// The file name ending of a spooled chunk.
pub const CHUNK_SUFFIX: &str = ".chunk.json";

/// A spool directory, for adding chunks. Shared between threads (`&self`);
/// it touches the disk only when the first chunk is pushed.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    /// The next sequence number; `None` until the directory was looked at.
    next_seq: Mutex<Option<u64>>,
}

impl Spool {
    /// A spool in `dir`, created with the first chunk.
    pub fn new(dir: &Path) -> Spool {
        Spool {
            dir: dir.to_path_buf(),
            next_seq: Mutex::new(None),
        }
    }

    /// Opens (creating it if needed) `dir` now, continuing its numbering after
    /// the files already there so that new chunks sort after older ones.
    pub fn open(dir: &Path) -> io::Result<Spool> {
        let spool = Spool::new(dir);
        let first = spool.first_free_seq()?;
        *spool.next_seq.lock().unwrap_or_else(|e| e.into_inner()) = Some(first);
        Ok(spool)
    }

    /// The directory, for messages telling the user where their rows are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates the directory if needed; the number after its newest chunk.
    fn first_free_seq(&self) -> io::Result<u64> {
        fs::create_dir_all(&self.dir)?;
        Ok(list(&self.dir)?
            .iter()
            .filter_map(|p| seq_of(p))
            .max()
            .map_or(0, |s| s + 1))
    }

    fn take_seq(&self) -> io::Result<u64> {
        let mut next = self.next_seq.lock().unwrap_or_else(|e| e.into_inner());
        let seq = match *next {
            Some(seq) => seq,
            None => self.first_free_seq()?,
        };
        *next = Some(seq + 1);
        Ok(seq)
    }

    /// Writes `chunk` to its own file, atomically and durably, and returns the
    /// file's path, so the caller can drain exactly what it spooled.
    pub fn push(&self, chunk: &Chunk) -> io::Result<PathBuf> {
        let seq = self.take_seq()?;
        let name = format!("{seq:012}-{}{CHUNK_SUFFIX}", file_safe(&chunk.insert_id));
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let body = serde_json::to_vec(chunk).map_err(io::Error::other)?;
        let written: io::Result<()> = (|| {
            let mut file = File::create(&tmp)?;
            file.write_all(&body)?;
            file.sync_all()?;
            fs::rename(&tmp, &path)?;
            // Make the rename itself durable (best effort where dirs can't be opened).
            if let Ok(d) = File::open(&self.dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written?;
        Ok(path)
    }

    /// The chunk files waiting in the spool, oldest first.
    pub fn pending(&self) -> io::Result<Vec<PathBuf>> {
        list(&self.dir)
    }
}

/// The chunk files in `dir`, oldest first; partial (`.tmp`) files are skipped.
pub fn list(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with('.') && name.ends_with(CHUNK_SUFFIX) && entry.file_type()?.is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// Reads a spooled chunk; the error says why a file is unusable (for reports).
pub fn read_chunk(path: &Path) -> Result<Chunk, String> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    parse_chunk(&bytes)
}

fn parse_chunk(bytes: &[u8]) -> Result<Chunk, String> {
    let chunk: Chunk = serde_json::from_slice(bytes).map_err(|e| format!("not a chunk: {e}"))?;
    if chunk.insert_id.is_empty() {
        return Err("the chunk has no insert_id".into());
    }
    Ok(chunk)
}

/// What [`Claim::take`] found.
#[derive(Debug)]
pub enum Take {
    /// The file is this process's to deliver and delete.
    Claimed(Claim),
    /// Another process (or another claim in this one) holds it.
    Busy,
    /// It was delivered and deleted by someone else.
    Gone,
}

/// The exclusive right to deliver one spooled chunk: an `flock` on its file.
#[derive(Debug)]
pub struct Claim {
    file: File,
    path: PathBuf,
}

impl Claim {
    /// Claims the chunk file at `path` without waiting.
    pub fn take(path: &Path) -> io::Result<Take> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Take::Gone),
            Err(e) => return Err(e),
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(Take::Busy),
            Err(TryLockError::Error(e)) => return Err(e),
        }
        // The holder may have deleted the file between our open and our lock:
        // then we hold a lock on a file no longer in the spool.
        let ours = file.metadata()?;
        match fs::metadata(path) {
            Ok(now) if (now.dev(), now.ino()) == (ours.dev(), ours.ino()) => {
                Ok(Take::Claimed(Claim {
                    file,
                    path: path.to_path_buf(),
                }))
            }
            Ok(_) => Ok(Take::Gone),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Take::Gone),
            Err(e) => Err(e),
        }
    }

    /// The claimed file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the chunk; the error says why the file is unusable.
    pub fn chunk(&mut self) -> Result<Chunk, String> {
        let mut bytes = Vec::new();
        self.file
            .read_to_end(&mut bytes)
            .map_err(|e| format!("cannot read: {e}"))?;
        parse_chunk(&bytes)
    }

    /// Deletes the file — only once its rows are known to be delivered — and
    /// then releases the claim.
    pub fn remove(self) -> io::Result<()> {
        fs::remove_file(&self.path)
    }
}

fn seq_of(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    name.split('-').next()?.parse().ok()
}

/// `insert_id` made safe for a file name; the exact id lives in the file.
fn file_safe(id: &str) -> String {
    id.chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
