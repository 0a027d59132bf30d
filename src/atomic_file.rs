//! Files that appear whole or not at all.
//!
//! Everything a run writes for the user (`--output`, the dead-letter file,
//! the report) is written to a temporary file beside its target and renamed
//! over it only when complete, so a failed or killed run never leaves a
//! half-written file where a good one stood. The temporary file is in the
//! same directory (a rename across file systems would be a copy), starts
//! with a dot, and carries the process id so that concurrent runs never
//! share one.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Temporary files not yet committed or dropped, so that a process ending
/// on a failure (whose workers may never drop theirs) can remove them.
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn pending() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    PENDING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Removes every temporary file this process has not committed: for a
/// program about to exit after a failure.
pub fn remove_uncommitted() {
    for path in pending().drain(..) {
        let _ = std::fs::remove_file(path);
    }
}

/// A file being written under a temporary name; [`commit`](Self::commit)
/// renames it into place, dropping it removes it.
///
/// ```
/// use std::io::Write;
/// use mable_pipeline::atomic_file::AtomicFile;
/// let dir = tempfile::tempdir().unwrap();
/// let target = dir.path().join("out.ndjson");
/// let mut f = AtomicFile::create(&target, 0o644).unwrap();
/// writeln!(f.file(), "{{}}").unwrap();
/// assert!(!target.exists(), "nothing is visible before the commit");
/// f.commit().unwrap();
/// assert_eq!(std::fs::read_to_string(&target).unwrap(), "{}\n");
/// ```
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    temp: PathBuf,
    file: Option<File>,
}

impl AtomicFile {
    /// Creates the temporary file for `target` with permission bits `mode`
    /// (e.g. `0o600` for files holding raw input). Fails if the target's
    /// directory cannot be written, so calling this early checks a setting.
    pub fn create(target: &Path, mode: u32) -> io::Result<AtomicFile> {
        let name = target
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let temp = dir.join(format!(
            ".{}.tmp-{}",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&temp)?;
        pending().push(temp.clone());
        Ok(AtomicFile {
            target: target.to_path_buf(),
            temp,
            file: Some(file),
        })
    }

    /// The file to write to.
    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("the file is open until commit")
    }

    /// Where the file will appear.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the file into place. Data already written through buffered
    /// writers must have been flushed into [`file`](Self::file) first.
    pub fn commit(mut self) -> io::Result<()> {
        drop(self.file.take());
        std::fs::rename(&self.temp, &self.target)?;
        // Renamed: nothing for Drop to remove.
        let temp = std::mem::take(&mut self.temp);
        pending().retain(|p| *p != temp);
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file().write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file().write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file().flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            drop(self.file.take());
            let _ = std::fs::remove_file(&self.temp);
            pending().retain(|p| *p != self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_dropped_file_leaves_the_old_one_alone() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        std::fs::write(&target, "good").unwrap();
        let mut f = AtomicFile::create(&target, 0o600).unwrap();
        f.file().write_all(b"half").unwrap();
        drop(f);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "good");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn the_mode_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("raw");
        let f = AtomicFile::create(&target, 0o600).unwrap();
        f.commit().unwrap();
        let mode = std::fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
