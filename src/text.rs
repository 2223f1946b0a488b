//! Settings and input files as text: reading one (UTF-8, no NUL bytes),
//! and finding where a key is written in a TOML text, so an error can name
//! the file, line, column and key of what is wrong.
//!
//! A neutral module shared by the agent configuration, workload files and
//! the simulator's inputs.

// Some helpers serve only workload files (feature `sim`).
#![cfg_attr(not(feature = "sim"), allow(dead_code))]

use std::path::Path;

/// Why an input file could not be read as text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TextError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The file is not UTF-8 text, or holds a NUL byte (a binary file).
    #[error("{file}: not a text file (invalid UTF-8 or NUL at byte {offset})")]
    NotText {
        /// The file.
        file: String,
        /// The first offending byte.
        offset: usize,
    },
}

/// Reads an input file as text: `(text, the path as errors name it)`.
/// Unreadable, non-UTF-8 and binary (NUL-bearing) files are errors.
///
/// # Errors
///
/// [`TextError`] naming the file (and the first bad byte).
pub fn read_text(path: &Path) -> Result<(String, String), TextError> {
    read_text_capped(path, MAX_TEXT_BYTES)
}

/// The largest settings or workload file [`read_text`] reads: 16 MiB (the
/// longest bundled one is a few KiB; a megabyte-long TOML is a mistake).
pub const MAX_TEXT_BYTES: u64 = 16 << 20;

/// As [`read_text`], reading at most `max` bytes: only a regular file (a
/// link to one is fine) is read, once; a FIFO, a device (`/dev/zero`), a
/// directory or a socket is refused before any read, and a file larger
/// than `max` without reading it all.
///
/// # Errors
///
/// [`TextError::Read`] (not a regular file, larger than `max`, or any I/O
/// error), [`TextError::NotText`].
pub fn read_text_capped(path: &Path, max: u64) -> Result<(String, String), TextError> {
    use std::io::Read;
    let file = path.display().to_string();
    let refuse = |message: String| TextError::Read {
        file: file.clone(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, message),
    };
    let mut input = open_regular(path).map_err(|source| TextError::Read { file: file.clone(), source })?;
    let len = input.metadata().map_err(|source| TextError::Read { file: file.clone(), source })?.len();
    if len > max {
        return Err(refuse(format!("{len} bytes: larger than the {max} bytes read at most")));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // A file that grows while read still stops at the cap.
    (&mut input)
        .take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| TextError::Read { file: file.clone(), source })?;
    if bytes.len() as u64 > max {
        return Err(refuse(format!("grew past the {max} bytes read at most while read")));
    }
    let text = String::from_utf8(bytes)
        .map_err(|e| TextError::NotText { file: file.clone(), offset: e.utf8_error().valid_up_to() })?;
    if let Some(offset) = text.find('\0') {
        return Err(TextError::NotText { file, offset });
    }
    Ok((text, file))
}

/// Opens `path` for reading if it is a regular file (checked on the open
/// file, so nothing can be swapped in between); a FIFO is opened without
/// blocking and refused.
///
/// # Errors
///
/// [`std::io::ErrorKind::InvalidInput`] naming what it is instead; any
/// error of opening it.
pub fn open_regular(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    // O_NONBLOCK: opening a FIFO with no writer must not hang; reads of a
    // regular file ignore the flag.
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    let kind = file.metadata()?.file_type();
    if kind.is_file() {
        Ok(file)
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("not a regular file ({}): only files are read", file_kind(&kind)),
        ))
    }
}

/// What a file that is not a regular one is, for messages.
pub(crate) fn file_kind(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

/// Whether `a` and `b` are the same existing file (links resolved).
///
/// ```
/// use std::path::Path;
/// assert!(tidepool::text::same_file(Path::new("/etc/../etc"), Path::new("/etc")));
/// assert!(!tidepool::text::same_file(Path::new("/etc"), Path::new("/nonexistent")));
/// ```
pub fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `message` cut to about `max` bytes (at a character boundary), saying how
/// long it was: errors quote values from input files, which may be
/// megabytes long.
///
/// ```
/// let long = "x".repeat(10_000);
/// let clipped = tidepool::text::clip(&long, 100);
/// assert!(clipped.len() < 200 && clipped.ends_with("(10000 bytes in all)"));
/// assert_eq!(tidepool::text::clip("short", 100), "short");
/// ```
pub fn clip(message: &str, max: usize) -> String {
    if message.len() <= max {
        return message.to_string();
    }
    let mut end = max;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &message[..end], message.len())
}

/// The longest error message quoted from an input, bytes.
pub const MAX_MESSAGE_BYTES: usize = 400;

/// 1-based (line, column) of a byte offset.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
    (line, column)
}

/// The field an error is about: quoted in serde's message, else the key on
/// the error's line.
pub(crate) fn field_at(text: &str, line: usize, message: &str) -> String {
    for marker in ["unknown field `", "missing field `", "unknown variant `"] {
        if let Some(rest) = message.split(marker).nth(1) {
            if marker == "unknown variant `" {
                break;
            }
            return rest.split('`').next().unwrap_or("?").to_string();
        }
    }
    let Some(source) = text.lines().nth(line.saturating_sub(1)) else { return "?".into() };
    let source = source.trim();
    if source.starts_with('[') {
        return source.trim_matches(|c| c == '[' || c == ']').trim().to_string();
    }
    let key = source.split('=').next().unwrap_or("").trim();
    if key.is_empty() {
        "?".into()
    } else {
        key.to_string()
    }
}

/// Line and column of `key =` inside the `index`-th `header` table
/// (`[[phase]]`, `[[fault]]`); the table's header line if the key is not
/// written there; (0, 0) if there is no such table.
pub(crate) fn find_in_table(text: &str, header: &str, index: usize, key: &str) -> (usize, usize) {
    let mut seen = 0;
    let mut inside: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            if let Some(start) = inside {
                return (start, 1);
            }
            if trimmed.trim_end() == header {
                if seen == index {
                    inside = Some(i + 1);
                }
                seen += 1;
            }
            continue;
        }
        if inside.is_some() {
            if let Some(rest) = trimmed.strip_prefix(key) {
                if rest.trim_start().starts_with('=') {
                    return (i + 1, line.len() - trimmed.len() + 1);
                }
            }
        }
    }
    inside.map_or((0, 0), |start| (start, 1))
}

/// Line and column of `key =` written inside the (single) table `header`.
pub(crate) fn written_in_table(text: &str, header: &str, key: &str) -> Option<(usize, usize)> {
    let mut inside = false;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            inside = trimmed.trim_end() == header;
            continue;
        }
        if inside {
            if let Some(rest) = trimmed.strip_prefix(key) {
                if rest.trim_start().starts_with('=') {
                    return Some((i + 1, line.len() - trimmed.len() + 1));
                }
            }
        }
    }
    None
}

/// Whether `key =` is written at the top level (before the first table).
pub(crate) fn written_at_top(text: &str, key: &str) -> bool {
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            return false;
        }
        if let Some(rest) = trimmed.strip_prefix(key) {
            if rest.trim_start().starts_with('=') {
                return true;
            }
        }
    }
    false
}

/// Line and column of the first `key =` in the file (cross-field errors).
pub(crate) fn find_key(text: &str, key: &str) -> (usize, usize) {
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(key) {
            if rest.trim_start().starts_with('=') {
                return (i + 1, line.len() - trimmed.len() + 1);
            }
        }
    }
    (0, 0)
}
