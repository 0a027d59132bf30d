//! Finding a run directory's metric files and reading their lines, in
//! parallel for big files.
//!
//! A run leaves `<table>.ndjson` (one process) or `<table>.p<i>.ndjson` (one
//! file per process of a cluster run) in its directory. The report reads them
//! with its own row types (see [`super::rows`]), so it keeps working when the
//! engine's row types change, and it tolerates columns it does not know.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::ReportError;

/// A run directory's files, listed once.
pub struct Listing {
    files: Vec<(String, PathBuf)>,
}

impl Listing {
    pub fn read(dir: &Path) -> Result<Listing, ReportError> {
        let entries = std::fs::read_dir(dir).map_err(|e| ReportError::io(dir, e))?;
        let mut files: Vec<(String, PathBuf)> = entries
            .flatten()
            .filter_map(|e| Some((e.file_name().to_str()?.to_string(), e.path())))
            .collect();
        files.sort();
        Ok(Listing { files })
    }

    /// The files of one table, one per process.
    pub fn table(&self, table: &str) -> Vec<PathBuf> {
        self.files
            .iter()
            .filter(|(name, _)| {
                let Some(rest) = name.strip_prefix(table) else {
                    return false;
                };
                let single = rest == ".ndjson";
                let per_process = rest
                    .strip_prefix(".p")
                    .and_then(|r| r.strip_suffix(".ndjson"))
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
                single || per_process
            })
            .map(|(_, path)| path.clone())
            .collect()
    }
}

/// The files of one table in a run directory, one per process.
pub fn table_files(dir: &Path, table: &str) -> Result<Vec<PathBuf>, ReportError> {
    Ok(Listing::read(dir)?.table(table))
}

/// Files are read by several threads from twice this size on, each taking
/// at least this much: below it, a thread costs more (waking it, warming its
/// allocator, waiting for a core on a busy machine) than it saves.
const PARALLEL_FROM: u64 = 2 << 20;

/// Calls `f` on every non-empty line of `path` (without its newline), with an
/// accumulator of its own per thread; returns the accumulators. Big files are
/// cut into byte ranges read by one thread each (a line belongs to the range
/// it starts in).
pub fn each_line<A: Send>(
    path: &Path,
    make: impl Fn() -> A + Sync,
    f: impl Fn(&mut A, &[u8]) + Sync,
) -> Result<Vec<A>, ReportError> {
    let len = std::fs::metadata(path)
        .map_err(|e| ReportError::io(path, e))?
        .len();
    let threads = if len < 2 * PARALLEL_FROM {
        1
    } else {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min((len / PARALLEL_FROM) as usize)
            .clamp(1, 16)
    };
    if threads == 1 {
        let mut acc = make();
        read_range(path, 0, len, &mut acc, &f)?;
        return Ok(vec![acc]);
    }
    let step = len / threads as u64;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let start = step * i as u64;
                let end = if i + 1 == threads {
                    len
                } else {
                    step * (i as u64 + 1)
                };
                let (make, f) = (&make, &f);
                scope.spawn(move || {
                    let mut acc = make();
                    read_range(path, start, end, &mut acc, f).map(|()| acc)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// Reads the lines that start in `[start, end)`.
fn read_range<A>(
    path: &Path,
    start: u64,
    end: u64,
    acc: &mut A,
    f: &impl Fn(&mut A, &[u8]),
) -> Result<(), ReportError> {
    let mut file = File::open(path).map_err(|e| ReportError::io(path, e))?;
    // A range starting mid-line leaves that line to the range before: begin
    // after the first newline at or after `start - 1`.
    let mut pos = start.saturating_sub(1);
    file.seek(SeekFrom::Start(pos))
        .map_err(|e| ReportError::io(path, e))?;
    // 64 KiB: a bigger buffer is fresh memory the kernel must zero first,
    // which costs more than the extra reads.
    let capacity = (end - start + 1024).clamp(4 << 10, 64 << 10) as usize;
    let mut reader = BufReader::with_capacity(capacity, file);
    if start > 0 {
        let mut skipped = Vec::new();
        let n = reader
            .read_until(b'\n', &mut skipped)
            .map_err(|e| ReportError::io(path, e))?;
        pos += n as u64;
    }
    // Lines are handed out where they lie in the reader's buffer; only a
    // line cut by the buffer's end is copied, to be joined with its rest.
    let emit = |acc: &mut A, line: &[u8]| {
        let text = line.strip_suffix(b"\r").unwrap_or(line);
        if !text.iter().all(u8::is_ascii_whitespace) {
            f(acc, text);
        }
    };
    // `pos` is where the next unread byte is; `cut` holds a line begun
    // before it (one that started inside the range).
    let mut cut: Vec<u8> = Vec::new();
    'fill: loop {
        if cut.is_empty() && pos >= end {
            break;
        }
        let buf = reader.fill_buf().map_err(|e| ReportError::io(path, e))?;
        if buf.is_empty() {
            // The file's last line, without a newline.
            if !cut.is_empty() {
                emit(acc, &cut);
            }
            break;
        }
        let mut at = 0;
        while let Some(k) = memchr::memchr(b'\n', &buf[at..]) {
            if cut.is_empty() {
                emit(acc, &buf[at..at + k]);
            } else {
                cut.extend_from_slice(&buf[at..at + k]);
                emit(acc, &cut);
                cut.clear();
            }
            at += k + 1;
            pos += k as u64 + 1;
            if pos >= end {
                break 'fill;
            }
        }
        cut.extend_from_slice(&buf[at..]);
        pos += (buf.len() - at) as u64;
        let n = buf.len();
        reader.consume(n);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_is_read_once_whatever_the_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.ndjson");
        let lines: Vec<String> = (0..50_000).map(|i| format!("{{\"i\":{i}}}")).collect();
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        for threads in [1u64, 3, 7] {
            let len = std::fs::metadata(&path).unwrap().len();
            let step = len / threads;
            let mut seen = Vec::new();
            for t in 0..threads {
                let end = if t + 1 == threads {
                    len
                } else {
                    step * (t + 1)
                };
                read_range(
                    &path,
                    step * t,
                    end,
                    &mut seen,
                    &|acc: &mut Vec<String>, l| acc.push(String::from_utf8(l.to_vec()).unwrap()),
                )
                .unwrap();
            }
            assert_eq!(seen, lines, "{threads} ranges");
        }
    }

    #[test]
    fn lines_longer_than_the_buffer_and_a_last_line_without_newline_are_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.ndjson");
        // The reader's buffer is 4 KiB to 64 KiB: these lines cross it.
        let long = "x".repeat(150_000);
        let text = format!("a\r\n{long}\n\n  \nb\n{long}y\nlast");
        std::fs::write(&path, &text).unwrap();
        let len = text.len() as u64;
        let want = [
            "a".to_string(),
            long.clone(),
            "b".into(),
            format!("{long}y"),
            "last".into(),
        ];
        for cuts in [
            vec![0, len],
            vec![0, 3, len],
            vec![0, 1000, 150_010, len - 2, len],
        ] {
            let mut seen = Vec::new();
            for w in cuts.windows(2) {
                read_range(&path, w[0], w[1], &mut seen, &|acc: &mut Vec<String>, l| {
                    acc.push(String::from_utf8(l.to_vec()).unwrap())
                })
                .unwrap();
            }
            assert_eq!(seen, want, "ranges {cuts:?}");
        }
    }

    #[test]
    fn only_table_files_are_found() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "pipeline_metrics.ndjson",
            "pipeline_metrics.p1.ndjson",
            "pipeline_metrics.p0.ndjson",
            "pipeline_metrics_old.ndjson",
            "pipeline_metrics.px.ndjson",
            "report.html",
        ] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let names: Vec<String> = table_files(dir.path(), "pipeline_metrics")
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "pipeline_metrics.ndjson",
                "pipeline_metrics.p0.ndjson",
                "pipeline_metrics.p1.ndjson"
            ]
        );
    }
}
