//! Keeping `--metrics-dir` from growing without bound: after each run, the
//! newest runs' directories stay and older ones go.
//!
//! Only what a run made is ever removed: a directory named like a run id
//! (`<unix seconds>-<8 hex digits>`, which sorts by start time) holding only
//! files a run writes (`*.ndjson`, `*.html`). Anything else in the directory
//! — the spool, a user's own files, a run directory someone added a file
//! to — is left alone.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Removes all but the newest `keep` run directories in `dir` (`keep` = 0
/// keeps everything). `current`, the run just made, is always kept and is
/// one of the `keep`. Returns the directories removed.
///
/// Runs are ordered by the second in their id and then by when their
/// directory last changed: the id's hex part is random, so two runs of the
/// same second cannot be told apart by name, and a fast loop of small runs
/// makes many in one second.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// for id in ["1700000000-0000000a", "1700000001-0000000b", "1700000002-0000000c"] {
///     std::fs::create_dir(dir.path().join(id)).unwrap();
///     std::fs::write(dir.path().join(id).join("pipeline_runs.ndjson"), "{}\n").unwrap();
/// }
/// std::fs::create_dir(dir.path().join("spool")).unwrap();
/// let removed =
///     mable_pipeline::sink::retention::prune(dir.path(), 2, Some("1700000002-0000000c")).unwrap();
/// assert_eq!(removed.len(), 1);
/// assert!(!dir.path().join("1700000000-0000000a").exists());
/// assert!(dir.path().join("spool").exists());
/// ```
pub fn prune(dir: &Path, keep: usize, current: Option<&str>) -> std::io::Result<Vec<PathBuf>> {
    if keep == 0 {
        return Ok(Vec::new());
    }
    let mut kept_current = false;
    let mut runs: Vec<(u64, SystemTime, PathBuf)> = Vec::new();
    for e in std::fs::read_dir(dir)?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !e.file_type().is_ok_and(|t| t.is_dir()) || !is_run_id(&name) {
            continue;
        }
        if Some(name.as_str()) == current {
            kept_current = true;
            continue;
        }
        let secs = name
            .split_once('-')
            .and_then(|(s, _)| s.parse().ok())
            .unwrap_or(0);
        let changed = e
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        runs.push((secs, changed, e.path()));
    }
    runs.sort();
    let keep_others = keep - usize::from(kept_current);
    let excess = runs.len().saturating_sub(keep_others);
    let mut removed = Vec::new();
    for (_, _, run) in runs.into_iter().take(excess) {
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
        assert!(prune(dir.path(), 1, None).unwrap().is_empty());
        assert!(dir.path().join("1700000000-0000000a/notes.txt").exists());
        assert!(dir.path().join("my-results").exists());
        assert!(!is_run_id("spool") && !is_run_id("17-xyz") && is_run_id("1-abcdef01"));
    }

    #[test]
    fn the_current_run_is_kept_and_runs_of_one_second_go_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        // Made in this order within one second; the names sort otherwise.
        let made = [
            "1700000000-ffffffff",
            "1700000000-eeeeeeee",
            "1700000000-dddddddd",
            "1700000000-00000000",
        ];
        for (i, id) in made.iter().enumerate() {
            let run = dir.path().join(id);
            std::fs::create_dir(&run).unwrap();
            std::fs::write(run.join("pipeline_runs.ndjson"), "{}\n").unwrap();
            let at =
                SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000 + i as u64);
            std::fs::File::open(&run).unwrap().set_modified(at).unwrap();
        }
        // The run just made sorts first by name: it stays, with the one
        // made before it.
        let removed = prune(dir.path(), 2, Some("1700000000-00000000")).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            ["1700000000-00000000", "1700000000-dddddddd"],
            "{removed:?}"
        );
    }
}
