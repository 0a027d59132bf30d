//! Settings checked before any work: a run that cannot write where it was
//! told to, or would overwrite its own input, is refused in well under a
//! second with one line naming the setting — not after the whole job ran.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::atomic_file::AtomicFile;

/// A path the run reads or writes, with the flag that named it.
pub(super) struct Named<'a> {
    pub flag: &'static str,
    pub path: &'a Path,
}

/// The same file: same device and inode (symlinks and hard links resolved),
/// or, for files that do not exist yet, the same absolute path.
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => absolute(a).is_some_and(|x| absolute(b).is_some_and(|y| x == y)),
    }
}

/// `path` made absolute through its (existing) parent directory, symlinks
/// in the parent resolved.
fn absolute(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(std::fs::canonicalize(parent).ok()?.join(name))
}

/// Refuses any two of `paths` that are the same file: an output that is the
/// input would destroy it, two outputs on one file would interleave.
pub(super) fn distinct(paths: &[Named<'_>]) -> anyhow::Result<()> {
    for (i, a) in paths.iter().enumerate() {
        for b in &paths[i + 1..] {
            if same_file(a.path, b.path) {
                bail!(
                    "{} {} and {} {} are the same file: the run would overwrite it. Give {} another path",
                    a.flag,
                    a.path.display(),
                    b.flag,
                    b.path.display(),
                    b.flag
                );
            }
        }
    }
    Ok(())
}

/// Checks that `flag`'s file can be written: its directory exists and takes
/// a new file (the run writes a temporary file there and renames it).
pub(super) fn writable_file(flag: &str, path: &Path) -> anyhow::Result<()> {
    if path.is_dir() {
        bail!("{flag} {} is a directory: give a file path", path.display());
    }
    let probe = AtomicFile::create(path, 0o600)
        .with_context(|| format!("{flag} {}: cannot write there", path.display()))?;
    drop(probe);
    Ok(())
}

/// Checks that `flag`'s directory exists or can be made, and takes files.
pub(super) fn writable_dir(flag: &str, dir: &Path) -> anyhow::Result<()> {
    if dir.exists() && !dir.is_dir() {
        bail!(
            "{flag} {} is a file, not a directory: give a directory",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("{flag} {}: cannot create the directory", dir.display()))?;
    let probe = AtomicFile::create(&dir.join("write-check"), 0o600)
        .with_context(|| format!("{flag} {}: cannot write there", dir.display()))?;
    drop(probe);
    Ok(())
}

/// Checks `--clickhouse-url`: an `http(s)://host[:port][/path]` URL that
/// carries no credentials (they would land in `pipeline_runs.args`, in logs
/// and in shell history), so user and password come from the environment.
pub(super) fn clickhouse_url(url: &str) -> anyhow::Result<()> {
    let Some((scheme, rest)) = url.split_once("://") else {
        bail!(
            "--clickhouse-url {url:?} has no scheme: write it as http://HOST:8123 (or https://…)"
        );
    };
    if scheme != "http" && scheme != "https" {
        bail!("--clickhouse-url must start with http:// or https://, not {scheme}://");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        bail!(
            "--clickhouse-url must not carry a user or password (they would be stored and logged): \
             put them in CLICKHOUSE_USER and CLICKHOUSE_PASSWORD instead"
        );
    }
    if authority.is_empty() {
        bail!("--clickhouse-url {url:?} names no host: write it as http://HOST:8123");
    }
    if rest.contains('?') || rest.contains('#') {
        bail!(
            "--clickhouse-url must not carry query parameters (a password there would be stored and logged): \
             put settings in CLICKHOUSE_USER and CLICKHOUSE_PASSWORD, and give the database with --database"
        );
    }
    Ok(())
}

/// Refuses ClickHouse's own databases for `--database`: the run creates
/// tables there.
pub(super) fn database(name: &str) -> anyhow::Result<()> {
    if ["system", "information_schema"].contains(&name.to_ascii_lowercase().as_str()) {
        bail!(
            "--database {name} is ClickHouse's own database: choose another (the default is mable)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlink_to_the_input_is_the_input() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.ndjson");
        std::fs::write(&input, "{}\n").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&input, &link).unwrap();
        assert!(same_file(&input, &link));
        let fresh = dir.path().join("fresh");
        let again = dir.path().join(".").join("fresh");
        assert!(
            same_file(&fresh, &again),
            "two spellings of a file that does not exist yet"
        );
        assert!(!same_file(&input, &fresh));
    }

    #[test]
    fn urls_need_a_scheme_and_no_credentials() {
        assert!(clickhouse_url("http://localhost:8123").is_ok());
        assert!(clickhouse_url("https://ch.example/proxy").is_ok());
        assert!(clickhouse_url("localhost:8123").is_err());
        assert!(clickhouse_url("http://u:p@localhost:8123").is_err());
        assert!(clickhouse_url("http://localhost:8123/?password=x").is_err());
        assert!(clickhouse_url("ftp://localhost").is_err());
    }

    #[test]
    fn clickhouse_own_databases_are_refused() {
        for name in ["system", "information_schema", "INFORMATION_SCHEMA"] {
            assert!(database(name).is_err(), "{name}");
        }
        assert!(database("mable").is_ok());
    }
}
