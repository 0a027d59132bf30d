//! The disk spool: chunks ClickHouse could not take, kept until it can.
//!
//! One file per chunk, `{seq:012}-{insert_id}.chunk.json`, holding the
//! serde_json of the [`Chunk`] (its `insert_id` included, so a later delivery
//! can ask ClickHouse whether the chunk already landed). The zero-padded
//! sequence number makes lexical order arrival order, so replay keeps the order
//! rows were produced in.
//!
//! A file appears only complete: it is written under a dot-prefixed `.tmp`
//! name, fsynced, renamed into place and the directory fsynced. A crash leaves
//! at worst a `.tmp` file, which [`Spool::pending`] ignores; a chunk is never
//! half on disk, so it is either replayed whole or not at all.
//!
//! [`replay`] delivers what a spool holds, see its docs.

mod replay;

pub use replay::{ReplayReport, replay};

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::Chunk;

/// The file name ending of a spooled chunk.
pub const CHUNK_SUFFIX: &str = ".chunk.json";

/// A spool directory, open for adding chunks.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    next_seq: u64,
}

impl Spool {
    /// Opens (creating it if needed) `dir`, continuing its numbering after the
    /// files already there so that new chunks sort after older ones.
    pub fn open(dir: &Path) -> io::Result<Spool> {
        fs::create_dir_all(dir)?;
        let next_seq = list(dir)?
            .iter()
            .filter_map(|p| seq_of(p))
            .max()
            .map_or(0, |s| s + 1);
        Ok(Spool {
            dir: dir.to_path_buf(),
            next_seq,
        })
    }

    /// The directory, for messages telling the user where their rows are.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `chunk` to its own file, atomically and durably, and returns the
    /// file's path, so the caller can drain exactly what it spooled.
    pub fn push(&mut self, chunk: &Chunk) -> io::Result<PathBuf> {
        let name = format!(
            "{:012}-{}{CHUNK_SUFFIX}",
            self.next_seq,
            file_safe(&chunk.insert_id)
        );
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let body = serde_json::to_vec(chunk).map_err(io::Error::other)?;
        let written: io::Result<()> = (|| {
            let mut file = fs::File::create(&tmp)?;
            file.write_all(&body)?;
            file.sync_all()?;
            fs::rename(&tmp, &path)?;
            // Make the rename itself durable (best effort where dirs can't be opened).
            if let Ok(d) = fs::File::open(&self.dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written?;
        self.next_seq += 1;
        Ok(path)
    }

    /// The chunk files waiting in the spool, oldest first.
    pub fn pending(&self) -> io::Result<Vec<PathBuf>> {
        list(&self.dir)
    }

    /// Deletes a chunk file once its rows are safely in ClickHouse.
    pub fn remove(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
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
    let chunk: Chunk = serde_json::from_slice(&bytes).map_err(|e| format!("not a chunk: {e}"))?;
    if chunk.insert_id.is_empty() {
        return Err("the chunk has no insert_id".into());
    }
    Ok(chunk)
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
