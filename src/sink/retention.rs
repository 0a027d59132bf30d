//! Keeping `--metrics-dir` from growing without bound: after each run, the
//! newest runs' directories stay and older ones go.
//!
//! Only what a run made is ever removed: a directory named like a run id
//! (`<unix seconds>-<8 hex digits>`, which sorts by start time) holding only
//! files a run writes (`*.ndjson`, `*.html`). Anything else in the directory
//! — the spool, a user's own files, a run directory someone added a file
//! to — is left alone.

use std::path::{Path, PathBuf};

/// Removes all but the newest `keep` run directories in `dir` (`keep` = 0
/// keeps everything). Returns the directories removed.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// for id in ["1700000000-0000000a", "1700000001-0000000b", "1700000002-0000000c"] {
///     std::fs::create_dir(dir.path().join(id)).unwrap();
///     std::fs::write(dir.path().join(id).join("pipeline_runs.ndjson"), "{}\n").unwrap();
/// }
/// std::fs::create_dir(dir.path().join("spool")).unwrap();
/// let removed = mable_pipeline::sink::retention::prune(dir.path(), 2).unwrap();
/// assert_eq!(removed.len(), 1);
/// assert!(!dir.path().join("1700000000-0000000a").exists());
/// assert!(dir.path().join("spool").exists());
/// ```
pub fn prune(dir: &Path, keep: usize) -> std::io::Result<Vec<PathBuf>> {
    if keep == 0 {
        return Ok(Vec::new());
    }
    let mut runs: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| is_run_id(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    runs.sort();
    let excess = runs.len().saturating_sub(keep);
    let mut removed = Vec::new();
    for run in runs.into_iter().take(excess) {
        if only_run_files(&run) && std::fs::remove_dir_all(&run).is_ok() {
            removed.push(run);
        }
    }
    Ok(removed)
}

/// `1796105232-fef65356`: decimal seconds, a dash, eight hex digits.
fn is_run_id(name: &str) -> bool {
    let Some((secs, noise)) = name.split_once('-') else {
        return false;
    };
    !secs.is_empty()
        && secs.bytes().all(|b| b.is_ascii_digit())
        && noise.len() == 8
        && noise.bytes().all(|b| b.is_ascii_hexdigit())
}

fn only_run_files(run: &Path) -> bool {
    std::fs::read_dir(run).is_ok_and(|entries| {
        entries.flatten().all(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            e.file_type().is_ok_and(|t| t.is_file())
                && (name.ends_with(".ndjson") || name.ends_with(".html"))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_directory_with_a_foreign_file_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        for id in ["1700000000-0000000a", "1700000001-0000000b"] {
            std::fs::create_dir(dir.path().join(id)).unwrap();
        }
        std::fs::write(dir.path().join("1700000000-0000000a/notes.txt"), "mine").unwrap();
        std::fs::create_dir(dir.path().join("my-results")).unwrap();
        assert!(prune(dir.path(), 1).unwrap().is_empty());
        assert!(dir.path().join("1700000000-0000000a/notes.txt").exists());
        assert!(dir.path().join("my-results").exists());
        assert!(!is_run_id("spool") && !is_run_id("17-xyz") && is_run_id("1-abcdef01"));
    }
}
