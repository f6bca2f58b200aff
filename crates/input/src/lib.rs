//! Opening the files a user hands us, for the whole workspace.
//!
//! Owns: the one way an input file is opened ([`open`], [`read`],
//! [`read_to_string`]): symlinks resolved, anything but a regular file
//! refused before a byte is read (a FIFO never hangs us, `/dev/zero` is never
//! read), a size cap per kind of input ([`Kind`]) checked against the file's
//! size and again while reading (a file that grows past it is refused too),
//! and a cap on the longest line for line-oriented formats
//! ([`read_line_capped`]), so that memory stays bounded on any input.
//!
//! Does not own: what the bytes mean (the config model, the telemetry reader,
//! the npz reader) or files we write (`rollout_config::fs`).

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, Read};
use std::path::{Path, PathBuf};

/// A kind of input with its size cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// What the file is, for messages: `rollout config`, `certificate`.
    pub what: &'static str,
    /// The largest file accepted, in bytes.
    pub max_bytes: u64,
}

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

impl Kind {
    /// `configs/rollout.yaml` and Townlet's simulation configs.
    pub const CONFIG: Kind = Kind {
        what: "config file",
        max_bytes: 16 * MIB,
    };
    /// PEM certificates and keys.
    pub const CERTIFICATE: Kind = Kind {
        what: "certificate or key file",
        max_bytes: 4 * MIB,
    };
    /// JSON documents of ours (reports, manifests, records, ledgers) and
    /// small tool outputs (mypy debt, `pyproject.toml`).
    pub const DOCUMENT: Kind = Kind {
        what: "document",
        max_bytes: 16 * MIB,
    };
    /// `.npz` observation archives (entries are bounded separately).
    pub const NPZ: Kind = Kind {
        what: "npz archive",
        max_bytes: 4 * GIB,
    };
    /// Any file copied byte for byte (`--bless`), streamed, never held.
    pub const COPIED: Kind = Kind {
        what: "file",
        max_bytes: 64 * GIB,
    };
    /// Streamed line by line (telemetry JSONL, logs): only lines are capped.
    pub const STREAM: Kind = Kind {
        what: "stream",
        max_bytes: u64::MAX,
    };
}

/// The longest telemetry line accepted (one full snapshot of a town).
pub const MAX_TELEMETRY_LINE: usize = 64 * MIB as usize;
/// The longest log line accepted.
pub const MAX_LOG_LINE: usize = MIB as usize;

/// Why an input could not be opened or read. Displays as one line naming
/// the file; [`InputError::reason`] is the same without the path, for
/// callers that name the file themselves.
#[derive(Debug)]
pub enum InputError {
    Missing {
        path: PathBuf,
    },
    NotRegular {
        path: PathBuf,
        /// `a FIFO`, `a directory`, `a character device`...
        found: &'static str,
        /// Where a symlink led.
        target: Option<PathBuf>,
    },
    TooLarge {
        path: PathBuf,
        what: &'static str,
        size: u64,
        limit: u64,
        /// The file was within the cap when opened and grew past it.
        grew: bool,
    },
    NotUtf8 {
        path: PathBuf,
        offset: usize,
    },
    Io {
        path: PathBuf,
        source: io::Error,
    },
}

impl InputError {
    /// The file concerned.
    pub fn path(&self) -> &Path {
        match self {
            InputError::Missing { path }
            | InputError::NotRegular { path, .. }
            | InputError::TooLarge { path, .. }
            | InputError::NotUtf8 { path, .. }
            | InputError::Io { path, .. } => path,
        }
    }

    /// What is wrong, without the path: `does not exist`, `is a FIFO, not a
    /// regular file`.
    pub fn reason(&self) -> String {
        match self {
            InputError::Missing { .. } => "does not exist".to_string(),
            InputError::NotRegular { found, target, .. } => {
                format!(
                    "is {found}, not a regular file{}",
                    through(target.as_deref())
                )
            }
            InputError::TooLarge {
                what,
                size,
                limit,
                grew,
                ..
            } => format!(
                "is {}, more than the {} limit for a {what}{}",
                Size(*size),
                Size(*limit),
                if *grew {
                    " (it grew while being read)"
                } else {
                    ""
                }
            ),
            InputError::NotUtf8 { offset, .. } => {
                format!("is not UTF-8 text: invalid byte at offset {offset}")
            }
            InputError::Io { source, .. } => format!("cannot be read: {source}"),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::Io { path, source } => {
                write!(f, "cannot read `{}`: {source}", path.display())
            }
            other => write!(f, "`{}` {}", other.path().display(), other.reason()),
        }
    }
}

impl std::error::Error for InputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InputError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn through(target: Option<&Path>) -> String {
    target.map_or_else(String::new, |target| {
        format!(" (it is a symlink to `{}`)", target.display())
    })
}

/// A byte count for messages: `512 bytes`, `16 MiB`, `4.5 GiB`.
#[derive(Debug, Clone, Copy)]
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.0;
        let (unit, scale) = match bytes {
            b if b >= GIB => ("GiB", GIB),
            b if b >= MIB => ("MiB", MIB),
            b if b >= 1 << 10 => ("KiB", 1 << 10),
            _ => return write!(f, "{bytes} bytes"),
        };
        let value = bytes as f64 / scale as f64;
        if bytes.is_multiple_of(scale) {
            write!(f, "{} {unit}", bytes / scale)
        } else {
            write!(f, "{value:.1} {unit}")
        }
    }
}

/// A failed `stat` or `open`: missing, or another I/O error.
fn opening_failed(path: &Path, source: io::Error) -> InputError {
    match source.kind() {
        io::ErrorKind::NotFound => InputError::Missing {
            path: path.to_path_buf(),
        },
        _ => InputError::Io {
            path: path.to_path_buf(),
            source,
        },
    }
}

/// Whether anything is at `path`: a file of any type, or a symlink even when
/// it leads nowhere. For optional inputs: absent means "not given", while
/// something that is there but not a readable regular file is an error that
/// [`open`] names, never a reason to act as if it were absent.
pub fn is_present(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Checks, without opening it, that `path` is a regular file (after
/// symlinks): for deciding what to do with a path before reading it.
pub fn check_regular(path: &Path) -> Result<(), InputError> {
    let metadata = std::fs::metadata(path).map_err(|source| opening_failed(path, source))?;
    regular(path, &metadata)
}

/// `NotRegular` unless `metadata` (after symlinks) is a regular file's.
fn regular(path: &Path, metadata: &std::fs::Metadata) -> Result<(), InputError> {
    if metadata.is_file() {
        return Ok(());
    }
    Err(InputError::NotRegular {
        path: path.to_path_buf(),
        found: describe(&metadata.file_type()),
        target: symlink_target(path),
    })
}

/// Opens `path` for reading if it is a regular file (after symlinks) within
/// `kind`'s size cap. A FIFO or device is refused without blocking.
pub fn open(path: &Path, kind: Kind) -> Result<File, InputError> {
    let file = open_nonblocking(path)?;
    let metadata = file.metadata().map_err(|source| InputError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    regular(path, &metadata)?;
    if metadata.len() > kind.max_bytes {
        return Err(InputError::TooLarge {
            path: path.to_path_buf(),
            what: kind.what,
            size: metadata.len(),
            limit: kind.max_bytes,
            grew: false,
        });
    }
    Ok(file)
}

/// Opens without blocking on a FIFO (`O_NONBLOCK`), then makes reads blocking
/// again for the regular files we keep.
fn open_nonblocking(path: &Path) -> Result<File, InputError> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(|source| opening_failed(path, source))?;
    let flags = nix::fcntl::fcntl(&file, nix::fcntl::FcntlArg::F_GETFL)
        .map(nix::fcntl::OFlag::from_bits_truncate)
        .map_err(|errno| InputError::Io {
            path: path.to_path_buf(),
            source: errno.into(),
        })?;
    nix::fcntl::fcntl(
        &file,
        nix::fcntl::FcntlArg::F_SETFL(flags - nix::fcntl::OFlag::O_NONBLOCK),
    )
    .map_err(|errno| InputError::Io {
        path: path.to_path_buf(),
        source: errno.into(),
    })?;
    Ok(file)
}

fn describe(file_type: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

fn symlink_target(path: &Path) -> Option<PathBuf> {
    let is_link = std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink());
    is_link.then(|| std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()))
}

/// Reads a whole regular file within `kind`'s cap.
pub fn read(path: &Path, kind: Kind) -> Result<Vec<u8>, InputError> {
    let file = open(path, kind)?;
    let expected = file.metadata().map_or(0, |meta| meta.len());
    let mut bytes = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
    file.take(kind.max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| InputError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > kind.max_bytes {
        return Err(InputError::TooLarge {
            path: path.to_path_buf(),
            what: kind.what,
            size: bytes.len() as u64,
            limit: kind.max_bytes,
            grew: true,
        });
    }
    Ok(bytes)
}

/// Reads a whole regular UTF-8 text file within `kind`'s cap.
pub fn read_to_string(path: &Path, kind: Kind) -> Result<String, InputError> {
    let bytes = read(path, kind)?;
    String::from_utf8(bytes).map_err(|error| InputError::NotUtf8 {
        path: path.to_path_buf(),
        offset: error.utf8_error().valid_up_to(),
    })
}

/// What [`read_line_capped`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// A line of this many bytes (with its `\n`, when it had one) was appended.
    Read(usize),
    /// The end of the input.
    End,
    /// The line is longer than the cap; `buf` holds its first `cap` bytes
    /// and the reader stands after them.
    TooLong,
}

/// `BufRead::read_until(b'\n')` with a cap: appends at most `cap` bytes of
/// the next line to `buf`, so an input without newlines (`/dev/zero`, a
/// corrupt file) cannot exhaust memory.
pub fn read_line_capped<R: BufRead + ?Sized>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    cap: usize,
) -> io::Result<Line> {
    let mut taken = 0usize;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if available.is_empty() {
            return Ok(if taken == 0 {
                Line::End
            } else {
                Line::Read(taken)
            });
        }
        let room = cap - taken;
        let newline = memchr::memchr(b'\n', available);
        match newline {
            Some(index) if index < room => {
                buf.extend_from_slice(&available[..=index]);
                reader.consume(index + 1);
                return Ok(Line::Read(taken + index + 1));
            }
            _ if available.len() <= room && newline.is_none() => {
                let length = available.len();
                buf.extend_from_slice(available);
                reader.consume(length);
                taken += length;
            }
            _ => {
                buf.extend_from_slice(&available[..room]);
                reader.consume(room);
                return Ok(Line::TooLong);
            }
        }
    }
}

/// Consumes the rest of a line [`read_line_capped`] found too long, up to
/// and including its `\n`, without keeping it; returns the bytes skipped.
pub fn skip_rest_of_line<R: BufRead + ?Sized>(reader: &mut R) -> io::Result<u64> {
    let mut skipped = 0u64;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if available.is_empty() {
            return Ok(skipped);
        }
        match memchr::memchr(b'\n', available) {
            Some(index) => {
                reader.consume(index + 1);
                return Ok(skipped + index as u64 + 1);
            }
            None => {
                let length = available.len();
                reader.consume(length);
                skipped += length as u64;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_fifo_without_blocking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("pipe");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        let error = read(&fifo, Kind::CONFIG).expect_err("a FIFO is not an input");
        assert_eq!(
            error.to_string(),
            format!("`{}` is a FIFO, not a regular file", fifo.display())
        );
    }

    #[test]
    fn refuses_dev_zero_through_a_symlink() {
        let dir = tempfile::tempdir().expect("tempdir");
        let link = dir.path().join("candidate.jsonl");
        std::os::unix::fs::symlink("/dev/zero", &link).expect("symlink");
        let error = read(&link, Kind::DOCUMENT).expect_err("a device is not an input");
        assert_eq!(
            error.to_string(),
            format!(
                "`{}` is a character device, not a regular file (it is a symlink to `/dev/zero`)",
                link.display()
            )
        );
    }

    #[test]
    fn a_missing_file_is_said_to_be_missing() {
        let error = read(Path::new("/nonexistent/x.yaml"), Kind::CONFIG).expect_err("missing");
        assert_eq!(error.to_string(), "`/nonexistent/x.yaml` does not exist");
    }

    #[test]
    fn a_file_over_the_cap_is_refused_with_both_sizes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big.pem");
        let file = File::create(&path).expect("create");
        file.set_len(5 * MIB).expect("sparse file");
        let error = read(&path, Kind::CERTIFICATE).expect_err("too large");
        assert_eq!(
            error.to_string(),
            format!(
                "`{}` is 5 MiB, more than the 4 MiB limit for a certificate or key file",
                path.display()
            )
        );
    }

    #[test]
    fn lines_are_capped_and_the_rest_is_left() {
        let mut reader = io::BufReader::with_capacity(4, &b"ab\ncdefgh\nij"[..]);
        let mut buf = Vec::new();
        assert_eq!(
            read_line_capped(&mut reader, &mut buf, 5).expect("read"),
            Line::Read(3)
        );
        assert_eq!(buf, b"ab\n");
        buf.clear();
        assert_eq!(
            read_line_capped(&mut reader, &mut buf, 5).expect("read"),
            Line::TooLong
        );
        assert_eq!(buf, b"cdefg");
        buf.clear();
        assert_eq!(
            read_line_capped(&mut reader, &mut buf, 5).expect("read"),
            Line::Read(2)
        );
        buf.clear();
        assert_eq!(
            read_line_capped(&mut reader, &mut buf, 5).expect("read"),
            Line::Read(2)
        );
        assert_eq!(buf, b"ij");
        assert_eq!(
            read_line_capped(&mut reader, &mut buf, 5).expect("read"),
            Line::End
        );
    }

    #[test]
    fn the_rest_of_a_long_line_can_be_skipped() {
        let mut reader = io::BufReader::with_capacity(2, &b"abcdefgh\nij\n"[..]);
        let mut buf = Vec::new();
        assert_eq!(
            read_line_capped(&mut reader, &mut buf, 3).expect("read"),
            Line::TooLong
        );
        assert_eq!(skip_rest_of_line(&mut reader).expect("skip"), 6);
        buf.clear();
        assert_eq!(
            read_line_capped(&mut reader, &mut buf, 3).expect("read"),
            Line::Read(3)
        );
        assert_eq!(buf, b"ij\n");
    }

    #[test]
    fn a_line_of_exactly_the_cap_fits() {
        let mut reader = &b"abcd\n"[..];
        let mut buf = Vec::new();
        assert_eq!(
            read_line_capped(&mut reader, &mut buf, 5).expect("read"),
            Line::Read(5)
        );
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(Size(512).to_string(), "512 bytes");
        assert_eq!(Size(16 * MIB).to_string(), "16 MiB");
        assert_eq!(Size(GIB * 9 / 2).to_string(), "4.5 GiB");
    }
}
