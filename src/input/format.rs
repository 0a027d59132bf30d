//! Input format detection.

use std::io::Read;
use std::path::Path;

use super::InputError;

/// How records are laid out in a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON value per line; read in parallel by byte range.
    Ndjson,
    /// A top-level JSON array; read in parallel by element index.
    Array,
    /// One (possibly multi-line) JSON value, or several in a row.
    Document,
}

impl Format {
    /// The name shown in the summary.
    pub fn name(self) -> &'static str {
        match self {
            Format::Ndjson => "NDJSON",
            Format::Array => "JSON array",
            Format::Document => "JSON document",
        }
    }
}

const SAMPLE: usize = 64 * 1024;

/// Detects the format of `path` from its first bytes; returns it with the
/// file's length and an estimate of its record count.
///
/// A file whose first non-blank line is a complete JSON value is NDJSON; a
/// file starting with `[` is an array; anything else is a document.
pub fn detect(path: &Path) -> Result<(Format, u64, u64), InputError> {
    let mut file = std::fs::File::open(path).map_err(|e| InputError::open(path, e))?;
    let meta = file.metadata().map_err(|e| InputError::open(path, e))?;
    if meta.is_dir() {
        return Err(InputError::open(path, "it is a directory, not a file"));
    }
    let len = meta.len();
    let mut sample = Vec::with_capacity(SAMPLE);
    (&mut file)
        .take(SAMPLE as u64)
        .read_to_end(&mut sample)
        .map_err(|e| InputError::open(path, e))?;
    let body = sample.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&sample);
    let Some(first) = body.iter().position(|b| !b.is_ascii_whitespace()) else {
        return Err(InputError::Empty {
            path: path.display().to_string(),
        });
    };
    if body[first] == b'[' {
        let elements = body.iter().filter(|&&b| b == b'{').count().max(1) as u64;
        return Ok((
            Format::Array,
            len,
            estimate(len, body.len() as u64, elements),
        ));
    }
    let line_end = memchr::memchr(b'\n', &body[first..]).map_or(body.len(), |i| first + i);
    let line = &body[first..line_end];
    if serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok() {
        let lines = memchr::memchr_iter(b'\n', body).count().max(1) as u64;
        return Ok((Format::Ndjson, len, estimate(len, body.len() as u64, lines)));
    }
    Ok((Format::Document, len, 1))
}

fn estimate(len: u64, sampled: u64, seen: u64) -> u64 {
    if sampled == 0 {
        return 0;
    }
    (len as u128 * seen as u128 / sampled as u128).max(1) as u64
}

/// True when `path` holds exactly one JSON object (on one line or many):
/// a template to cycle rather than a file of records. Only files up to
/// [`TEMPLATE_MAX`] bytes are looked at; anything larger is records.
pub fn single_object(path: &Path) -> Result<bool, InputError> {
    let meta = std::fs::metadata(path).map_err(|e| InputError::open(path, e))?;
    if !meta.is_file() || meta.len() > TEMPLATE_MAX {
        return Ok(false);
    }
    let bytes = std::fs::read(path).map_err(|e| InputError::open(path, e))?;
    let body = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Ok(false);
    }
    let mut values =
        serde_json::Deserializer::from_slice(body).into_iter::<serde::de::IgnoredAny>();
    // A broken object is left for the reader to report with its line.
    Ok(matches!(values.next(), Some(Ok(_))) && values.next().is_none())
}

/// The largest file [`single_object`] reads: a template is one event, not
/// a data set.
pub const TEMPLATE_MAX: u64 = 1 << 20;
