//! The line reader under the trace and series parsers: one line at a time
//! from a file or from text in memory, in bounded memory (a 64 KiB read
//! buffer and one line of at most [`MAX_LINE`] bytes), with the checks
//! `read_text` makes on a whole file (UTF-8, no NUL bytes) made line by
//! line, and the same precedence: a file that is not text is refused as
//! such even when a bad line comes before the offending byte.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::workload::WorkloadError;

/// The longest line a file may have (a trace line is about 60 bytes, a
/// series row about 30): longer is refused, so a file without line breaks
/// cannot make the reader hold it whole.
pub const MAX_LINE: usize = 1 << 20;

/// The read buffer of a file.
const BUFFER: usize = 64 * 1024;

/// Operations of a trace (or rows of a series) kept in memory after the
/// first read, by default: smaller inputs replay from memory (as fast as
/// before, and `--loop` does not re-read them), larger ones are re-read
/// from the file as the replay goes. 16 bytes each: 4 MiB.
pub const DEFAULT_CACHE_LIMIT: usize = 1 << 18;

/// The cache limit: [`DEFAULT_CACHE_LIMIT`], or the environment variable
/// `TIDEPOOL_REPLAY_CACHE` (a count; 0 streams every input from its file).
pub(crate) fn cache_limit() -> usize {
    static LIMIT: OnceLock<usize> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::env::var("TIDEPOOL_REPLAY_CACHE")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(DEFAULT_CACHE_LIMIT)
    })
}

/// Where an input's lines come from, to read them again.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Source {
    /// A file, reopened for each read.
    File(PathBuf),
    /// Text in memory (the `parse` entry points, when the input is larger
    /// than the cache).
    Text(Arc<str>),
    /// Nothing to read again: everything is cached.
    Cached,
}

/// The bytes under a [`LineReader`].
pub(crate) enum Input<'a> {
    File(BufReader<File>),
    Slice(&'a [u8]),
    Shared(Arc<str>, usize),
}

impl Read for Input<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = {
            let buf = self.fill_buf()?;
            let n = buf.len().min(out.len());
            out[..n].copy_from_slice(&buf[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Input<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        match self {
            Input::File(f) => f.fill_buf(),
            Input::Slice(s) => Ok(s),
            Input::Shared(text, pos) => Ok(text.as_bytes().get(*pos..).unwrap_or_default()),
        }
    }

    fn consume(&mut self, n: usize) {
        match self {
            Input::File(f) => f.consume(n),
            Input::Slice(s) => *s = s.get(n..).unwrap_or_default(),
            Input::Shared(_, pos) => *pos += n,
        }
    }
}

/// Reads lines like `str::lines` (split at `\n`, one trailing `\r`
/// stripped), numbering them from 1.
pub(crate) struct LineReader<'a> {
    input: Input<'a>,
    line: Vec<u8>,
    /// 1-based number of the line last returned.
    number: usize,
    /// Byte offset of the next line's start.
    offset: usize,
    /// A file: check for NUL bytes and cap the line length.
    file_checks: bool,
    /// How the input is named in errors.
    name: Arc<str>,
}

impl<'a> LineReader<'a> {
    /// Opens `path` (a file: lines are checked as `read_text` checks text).
    pub fn open(path: &Path, name: Arc<str>) -> Result<LineReader<'static>, WorkloadError> {
        let file = crate::text::open_regular(path)
            .map_err(|source| WorkloadError::Read { file: name.to_string(), source })?;
        Ok(LineReader::new(Input::File(BufReader::with_capacity(BUFFER, file)), name, true))
    }

    /// Reads text in memory (no file checks, as for the `parse` entry points).
    pub fn text(text: &'a str, name: Arc<str>) -> LineReader<'a> {
        LineReader::new(Input::Slice(text.as_bytes()), name, false)
    }

    /// Opens a [`Source`] again; `None` for [`Source::Cached`].
    pub fn reopen(source: &Source, name: &Arc<str>) -> Result<Option<LineReader<'static>>, WorkloadError> {
        Ok(match source {
            Source::File(path) => Some(LineReader::open(path, Arc::clone(name))?),
            Source::Text(text) => {
                Some(LineReader::new(Input::Shared(Arc::clone(text), 0), Arc::clone(name), false))
            }
            Source::Cached => None,
        })
    }

    fn new(input: Input<'a>, name: Arc<str>, file_checks: bool) -> Self {
        LineReader { input, line: Vec::with_capacity(256), number: 0, offset: 0, file_checks, name }
    }

    /// The input's name in errors.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Byte offset of the next line's start.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The next line, its number and the input's name, `None` at the end.
    ///
    /// # Errors
    ///
    /// A read error; for a file, a line that is not UTF-8 or holds a NUL
    /// byte ([`WorkloadError::NotText`] at the first offending byte of the
    /// file) or is longer than [`MAX_LINE`].
    pub fn next_line(&mut self) -> Result<Option<(usize, &str, &str)>, WorkloadError> {
        self.line.clear();
        let limit = if self.file_checks { MAX_LINE as u64 + 1 } else { u64::MAX };
        let read = (&mut self.input).take(limit).read_until(b'\n', &mut self.line);
        let n = read.map_err(|source| WorkloadError::Read { file: self.name.to_string(), source })?;
        if n == 0 {
            return Ok(None);
        }
        let start = self.offset;
        self.offset += n;
        self.number += 1;
        if self.file_checks && self.line.len() > MAX_LINE && self.line.last() != Some(&b'\n') {
            // Not text at all comes first, as for a whole file.
            let prefix = std::mem::take(&mut self.line);
            let valid = match std::str::from_utf8(&prefix) {
                Ok(_) => prefix.len(),
                Err(e) if e.error_len().is_some() => {
                    return Err(WorkloadError::NotText {
                        file: self.name.to_string(),
                        offset: start + e.valid_up_to(),
                    })
                }
                Err(e) => e.valid_up_to(),
            };
            let nul = prefix.iter().position(|&b| b == 0).map(|k| start + k);
            let err = WorkloadError::Invalid {
                file: self.name.to_string(),
                line: self.number,
                column: 1,
                field: "line".into(),
                message: format!("longer than {} bytes (not a line-per-record text file?)", MAX_LINE),
            };
            return Err(self.finish(
                err,
                nul,
                prefix.get(valid..).unwrap_or_default().to_vec(),
                start + valid,
            ));
        }
        let mut end = self.line.len();
        if self.line[..end].ends_with(b"\n") {
            end -= 1;
            if self.line[..end].ends_with(b"\r") {
                end -= 1;
            }
        }
        if self.file_checks && self.line.contains(&0) {
            // A UTF-8 error anywhere still comes first: check this line on.
            let k = self.line.iter().position(|&b| b == 0).unwrap_or(0);
            let err = WorkloadError::NotText { file: self.name.to_string(), offset: start + k };
            let pending = std::mem::take(&mut self.line);
            return Err(self.finish(err, Some(start + k), pending, start));
        }
        let text = match std::str::from_utf8(&self.line[..end]) {
            Ok(text) => text,
            Err(e) => {
                return Err(WorkloadError::NotText {
                    file: self.name.to_string(),
                    offset: start + e.valid_up_to(),
                })
            }
        };
        Ok(Some((self.number, text, &self.name)))
    }

    /// The error to report for `err` found in a file: as `read_text`
    /// would, a UTF-8 error anywhere in the file first, then the first NUL
    /// byte (`nul`, if already seen), then `err`. Reads the rest of the
    /// file to know (only when a file is refused). `pending` holds bytes
    /// at `at` not yet checked as UTF-8 (a line cut at [`MAX_LINE`]).
    pub fn finish(
        &mut self,
        err: WorkloadError,
        mut nul: Option<usize>,
        mut pending: Vec<u8>,
        mut at: usize,
    ) -> WorkloadError {
        if !self.file_checks {
            return err;
        }
        let file = self.name.to_string();
        loop {
            let chunk = match self.input.fill_buf() {
                Ok(chunk) => chunk,
                Err(_) => return err,
            };
            let done = chunk.is_empty();
            let n = chunk.len();
            if nul.is_none() {
                nul = chunk.iter().position(|&b| b == 0).map(|k| at + pending.len() + k);
            }
            pending.extend_from_slice(chunk);
            self.input.consume(n);
            match std::str::from_utf8(&pending) {
                Ok(_) => {
                    at += pending.len();
                    pending.clear();
                }
                Err(e) if e.error_len().is_some() || done => {
                    return WorkloadError::NotText { file, offset: at + e.valid_up_to() };
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    pending.drain(..valid);
                    at += valid;
                }
            }
            if done {
                break;
            }
        }
        match nul {
            Some(offset) => WorkloadError::NotText { file, offset },
            None => err,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        let mut r = LineReader::text(text, "t".into());
        let mut out = Vec::new();
        while let Ok(Some((_, line, _))) = r.next_line() {
            out.push(line.to_string());
        }
        out
    }

    #[test]
    fn lines_split_as_str_lines_does() {
        for text in ["", "\n", "a", "a\n", "a\n\n", "a\r\nb\r", "\r\n\r\n", "x\ry\n", "a\nb"] {
            assert_eq!(lines(text), text.lines().map(str::to_string).collect::<Vec<_>>(), "{text:?}");
        }
    }

    #[test]
    fn file_checks_keep_read_texts_precedence() {
        let dir = tempfile::tempdir().expect("tempdir");
        let check = |bytes: &[u8]| -> Result<(), WorkloadError> {
            let path = dir.path().join("f");
            std::fs::write(&path, bytes).expect("write");
            let mut r = LineReader::open(&path, path.display().to_string().into())?;
            while let Some((n, line, _)) = r.next_line()? {
                if line.starts_with("bad") {
                    let e = WorkloadError::Invalid {
                        file: path.display().to_string(),
                        line: n,
                        column: 1,
                        field: "x".into(),
                        message: "bad".into(),
                    };
                    return Err(r.finish(e, None, Vec::new(), r.offset));
                }
            }
            Ok(())
        };
        let whole = |bytes: &[u8]| -> String {
            let path = dir.path().join("f");
            std::fs::write(&path, bytes).expect("write");
            match crate::text::read_text(&path).map_err(WorkloadError::from) {
                Err(e) => e.to_string(),
                Ok(_) => "ok".into(),
            }
        };
        let cases: [&[u8]; 6] = [
            b"ok\nbad\nok\n",
            b"ok\nbad\nx\0y\n",
            b"ok\nbad\n\xff\n",
            b"a\0\nb\n\xe2\x82\n",
            b"ok\n\xe2\x82",
            b"\xff\xfe\x00\x12",
        ];
        for bytes in cases {
            let ours = check(bytes).err().map_or("no error".into(), |e| e.to_string());
            let theirs = whole(bytes);
            if theirs != "ok" {
                assert_eq!(ours, theirs, "{bytes:?}");
            } else {
                assert!(ours.ends_with("f:2:1: x: bad"), "{ours}");
            }
        }
    }
}
