//! The dead-letter file: skipped records, raw, with where and why.
//!
//! It holds raw input, personal data included, so it is created with mode
//! 0600. It is written to a temporary file beside the target (same
//! directory, dot-prefixed) and renamed into place by [`DeadLetter::finish`]
//! when the run succeeded; a failed run removes the temporary file and leaves
//! any older dead-letter file as it was.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::InputError;

/// A file of skipped records, one JSON object per line:
/// `{"file": …, "line": …, "error": …, "record": …}`. Shared by all workers
/// of a process; written only when a record is bad, never on the hot path.
#[derive(Debug)]
pub struct DeadLetter {
    path: PathBuf,
    temp: PathBuf,
    /// `None` once finished or discarded.
    out: Mutex<Option<std::io::BufWriter<std::fs::File>>>,
}

impl DeadLetter {
    /// Starts a dead-letter file for `path`: a temporary file beside it,
    /// mode 0600. `path` itself is untouched until [`DeadLetter::finish`].
    pub fn create(path: &Path) -> Result<DeadLetter, InputError> {
        let fail = |reason: String| InputError::DeadLetter {
            path: path.display().to_string(),
            reason,
        };
        let name = path
            .file_name()
            .ok_or_else(|| fail("it names a directory, not a file".into()))?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let temp = dir.join(format!(
            ".{}.{}-{nonce:08x}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&temp).map_err(|e| fail(e.to_string()))?;
        Ok(DeadLetter {
            path: path.to_path_buf(),
            temp,
            out: Mutex::new(Some(std::io::BufWriter::new(file))),
        })
    }

    /// Where the file goes when the run succeeds.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, e: impl std::fmt::Display) -> InputError {
        InputError::DeadLetter {
            path: self.path.display().to_string(),
            reason: e.to_string(),
        }
    }

    pub(crate) fn write(
        &self,
        file: &str,
        line: u64,
        error: &str,
        raw: &[u8],
    ) -> Result<(), InputError> {
        let entry = serde_json::json!({
            "file": file,
            "line": line,
            "error": error,
            "record": String::from_utf8_lossy(raw),
        });
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let Some(out) = out.as_mut() else {
            return Err(self.error("written after the run ended"));
        };
        serde_json::to_writer(&mut *out, &entry)
            .map_err(std::io::Error::from)
            .and_then(|_| out.write_all(b"\n"))
            .and_then(|_| out.flush())
            .map_err(|e| self.error(e))
    }

    /// The run succeeded: moves the file into place (replacing an older one).
    pub fn finish(&self) -> Result<(), InputError> {
        let taken = self.out.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(mut out) = taken else {
            return Ok(());
        };
        let done = out
            .flush()
            .and_then(|_| out.get_ref().sync_all())
            .and_then(|_| std::fs::rename(&self.temp, &self.path));
        if let Err(e) = done {
            let _ = std::fs::remove_file(&self.temp);
            return Err(self.error(e));
        }
        Ok(())
    }

    /// The run failed: removes the temporary file; an older dead-letter
    /// file stays as it was.
    pub fn discard(&self) {
        let taken = self.out.lock().unwrap_or_else(|e| e.into_inner()).take();
        if taken.is_some() {
            drop(taken);
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

impl Drop for DeadLetter {
    /// Neither finished nor discarded (a library caller's early return): the
    /// run did not succeed as far as anyone said, so nothing replaces the target.
    fn drop(&mut self) {
        self.discard();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temps(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn finish_moves_a_0600_file_into_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dead.ndjson");
        std::fs::write(&path, "older\n").unwrap();
        let d = DeadLetter::create(&path).unwrap();
        d.write("in", 3, "bad", b"{raw").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "older\n");
        assert_eq!(temps(dir.path()).len(), 1);
        d.finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(r#""record":"{raw""#), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(temps(dir.path()).is_empty());
    }

    #[test]
    fn discard_and_drop_leave_the_older_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dead.ndjson");
        std::fs::write(&path, "older\n").unwrap();
        let d = DeadLetter::create(&path).unwrap();
        d.write("in", 3, "bad", b"{raw").unwrap();
        d.discard();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "older\n");
        assert!(temps(dir.path()).is_empty());
        let d = DeadLetter::create(&path).unwrap();
        drop(d);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "older\n");
        assert!(temps(dir.path()).is_empty());
    }
}
