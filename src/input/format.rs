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

pub(crate) const SAMPLE: usize = 64 * 1024;

/// A UTF-8 byte-order mark, skipped where a file starts with one.
pub(crate) const BOM: &[u8] = b"\xef\xbb\xbf";

/// Detects the format of `path` from its first bytes; returns it with the
/// file's length and an estimate of its record count.
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
    let format = match detect_sample(&sample, true) {
        Some(f) => f,
        None => {
            return Err(InputError::Empty {
                path: path.display().to_string(),
            });
        }
    };
    let body = sample.strip_prefix(BOM).unwrap_or(&sample);
    let estimate = match format {
        Format::Array => {
            let elements = body.iter().filter(|&&b| b == b'{').count().max(1) as u64;
            estimate(len, body.len() as u64, elements)
        }
        Format::Ndjson => {
            let lines = memchr::memchr_iter(b'\n', body).count().max(1) as u64;
            estimate(len, body.len() as u64, lines)
        }
        Format::Document => 1,
    };
    Ok((format, len, estimate))
}

/// The format of an input that starts with `sample`, or `None` when the
/// sample is blank. `complete` says the sample is the whole input or at
/// least [`SAMPLE`] bytes of it; otherwise `None` also means "read more".
///
/// A sample whose first non-blank line is a complete JSON value is NDJSON;
/// one starting with `[` is an array; anything else is a document.
pub(crate) fn detect_sample(sample: &[u8], complete: bool) -> Option<Format> {
    let body = sample.strip_prefix(BOM).unwrap_or(sample);
    let first = body.iter().position(|b| !b.is_ascii_whitespace())?;
    if body[first] == b'[' {
        return Some(Format::Array);
    }
    let line_end = match memchr::memchr(b'\n', &body[first..]) {
        Some(i) => first + i,
        None if complete => body.len(),
        None => return None,
    };
    let line = &body[first..line_end];
    if serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok() {
        return Some(Format::Ndjson);
    }
    Some(Format::Document)
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
