//! Reading NumPy `.npz` archives and `.npy` arrays.
//!
//! ndarray-npy decodes the numeric and bool arrays. What it cannot handle is
//! done here first, from the `.npy` header: object arrays (`|O`, pickled
//! Python objects) are kept as raw bytes (decoded by [`crate::pickle`],
//! whose decoding limits are checked here, so that a pickle too large to
//! decode is an error naming the archive and the array);
//! unsupported dtypes (complex, structured, strings, dates, float16) and
//! headers whose shape does not match the bytes that follow are errors that
//! name the archive, the array and the byte offset.

use std::fmt;
use std::io::{Cursor, Read};

use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt;

/// The element types compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Float,
    Int,
    Uint,
    Bool,
    Object,
}

/// A parsed dtype: kind and item size, plus the descriptor as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dtype {
    pub descr: String,
    pub kind: Kind,
    pub size: usize,
}

impl Dtype {
    /// The dtype without byte order, as numpy names it (`float32`, `int64`, `bool`, `object`).
    pub fn name(&self) -> String {
        match self.kind {
            Kind::Float => format!("float{}", self.size * 8),
            Kind::Int => format!("int{}", self.size * 8),
            Kind::Uint => format!("uint{}", self.size * 8),
            Kind::Bool => "bool".into(),
            Kind::Object => "object".into(),
        }
    }

    /// Same element type, ignoring byte order.
    pub fn same_type(&self, other: &Dtype) -> bool {
        self.kind == other.kind && self.size == other.size
    }
}

/// The values of an array.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    F32(ArrayD<f32>),
    F64(ArrayD<f64>),
    I8(ArrayD<i8>),
    I16(ArrayD<i16>),
    I32(ArrayD<i32>),
    I64(ArrayD<i64>),
    U8(ArrayD<u8>),
    U16(ArrayD<u16>),
    U32(ArrayD<u32>),
    U64(ArrayD<u64>),
    Bool(ArrayD<bool>),
    /// Pickled Python objects: the bytes after the header, not decoded.
    Object(Vec<u8>),
}

/// One array of an archive.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    /// The name numpy gave it (the entry name without `.npy`).
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub fortran_order: bool,
    pub data: Data,
}

/// The `.npy` header.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub fortran_order: bool,
    /// Offset of the first data byte.
    pub data_offset: usize,
}

/// Why an archive or array cannot be read. `place` is filled by the caller
/// that knows the file and entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyError {
    /// Byte offset inside the `.npy` entry, when the problem has one.
    pub offset: Option<usize>,
    pub message: String,
}

impl fmt::Display for NpyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(o) => write!(f, "at byte offset {o} of the .npy data: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for NpyError {}

fn npy_err(offset: Option<usize>, message: impl Into<String>) -> NpyError {
    NpyError {
        offset,
        message: message.into(),
    }
}

const MAGIC: &[u8] = b"\x93NUMPY";

/// Parses the header of a `.npy` byte string.
pub fn parse_header(bytes: &[u8]) -> Result<Header, NpyError> {
    let (text, start, end) = header_text(bytes)?;
    let dict = literal::parse(&text).map_err(|(at, m)| {
        npy_err(
            Some(start + at),
            format!("cannot parse the header `{}`: {m}", text.trim()),
        )
    })?;
    let literal::Lit::Dict(items) = dict else {
        return Err(npy_err(Some(start), "the header is not a Python dict"));
    };
    header_of(&items, start, end)
}

/// The header's text, where it starts and where the data starts: the magic
/// bytes, the format version and the header length checked.
fn header_text(bytes: &[u8]) -> Result<(String, usize, usize), NpyError> {
    if bytes.len() < 10 || !bytes.starts_with(MAGIC) {
        return Err(npy_err(
            Some(0),
            "not a .npy array: it does not start with the magic bytes `\\x93NUMPY`",
        ));
    }
    let major = bytes[6];
    let (len, start): (usize, usize) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(npy_err(Some(8), "the header length is cut short"));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => {
            return Err(npy_err(
                Some(6),
                format!(
                    "unsupported .npy format version {v}.{}, expected 1, 2 or 3",
                    bytes[7]
                ),
            ));
        }
    };
    let end = start
        .checked_add(len)
        .filter(|e| *e <= bytes.len())
        .ok_or_else(|| {
            npy_err(
                Some(start - 2),
                format!(
                    "the header claims {len} bytes but only {} follow",
                    bytes.len().saturating_sub(start)
                ),
            )
        })?;
    let text = if major == 3 {
        std::str::from_utf8(&bytes[start..end])
            .map_err(|e| npy_err(Some(start + e.valid_up_to()), "the header is not UTF-8"))?
            .to_string()
    } else {
        bytes[start..end].iter().map(|&b| b as char).collect()
    };
    Ok((text, start, end))
}

/// The header from the items of its dict (`descr`, `fortran_order`,
/// `shape`); `start` is where it starts, `end` where the data does.
fn header_of(
    items: &[(String, literal::Lit)],
    start: usize,
    end: usize,
) -> Result<Header, NpyError> {
    let get = |k: &str| items.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    let descr = match get("descr") {
        Some(literal::Lit::Str(s)) => s.clone(),
        Some(literal::Lit::List(_)) => {
            return Err(npy_err(
                Some(start),
                "unsupported dtype: a structured array (fields); baseline-diff compares float, int, uint and bool arrays",
            ));
        }
        _ => return Err(npy_err(Some(start), "the header has no 'descr' string")),
    };
    let fortran_order = match get("fortran_order") {
        Some(literal::Lit::Bool(b)) => *b,
        _ => {
            return Err(npy_err(
                Some(start),
                "the header has no 'fortran_order' True/False",
            ));
        }
    };
    let shape = match get("shape") {
        Some(literal::Lit::Tuple(items)) => items
            .iter()
            .map(|i| match i {
                literal::Lit::Int(n) => Ok(*n),
                _ => Err(npy_err(
                    Some(start),
                    "the 'shape' holds something other than integers",
                )),
            })
            .collect::<Result<Vec<usize>, _>>()?,
        _ => return Err(npy_err(Some(start), "the header has no 'shape' tuple")),
    };
    let dtype = parse_descr(&descr).map_err(|m| npy_err(Some(start), m))?;
    Ok(Header {
        dtype,
        shape,
        fortran_order,
        data_offset: end,
    })
}

fn parse_descr(descr: &str) -> Result<Dtype, String> {
    let unsupported = |what: &str| {
        Err(format!(
            "unsupported dtype '{descr}' ({what}); baseline-diff compares float, int, uint and bool arrays"
        ))
    };
    let body = descr.trim_start_matches(['<', '>', '|', '=']);
    let (code, rest) = body.split_at(
        body.find(|c: char| c.is_ascii_digit())
            .unwrap_or(body.len()),
    );
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if matches!(code, "M" | "m") {
        return unsupported("date or time");
    }
    let size: usize = if digits.is_empty() || digits.len() != rest.len() {
        if matches!(code, "O") {
            8
        } else {
            return Err(format!("cannot read dtype '{descr}'"));
        }
    } else {
        digits
            .parse()
            .map_err(|_| format!("cannot read dtype '{descr}'"))?
    };
    let dtype = |kind| {
        Ok(Dtype {
            descr: descr.to_string(),
            kind,
            size,
        })
    };
    match (code, size) {
        ("O", _) => dtype(Kind::Object),
        ("f", 4 | 8) => dtype(Kind::Float),
        ("f", 2) => unsupported("float16"),
        ("f", _) => unsupported("float of this size"),
        ("i", 1 | 2 | 4 | 8) => dtype(Kind::Int),
        ("u", 1 | 2 | 4 | 8) => dtype(Kind::Uint),
        ("b", 1) => dtype(Kind::Bool),
        ("c", _) => unsupported("complex"),
        ("U" | "S" | "a", _) => unsupported("string"),
        ("V", _) => unsupported("structured or void"),
        _ => Err(format!("unknown dtype '{descr}'")),
    }
}

/// Reads one `.npy` byte string.
pub fn read_npy(name: &str, bytes: &[u8]) -> Result<Array, NpyError> {
    let h = parse_header(bytes)?;
    let data_len = bytes.len() - h.data_offset;
    if h.dtype.kind != Kind::Object {
        let expected = h
            .shape
            .iter()
            .try_fold(h.dtype.size, |acc, &d| acc.checked_mul(d));
        let shape = shape_text(&h.shape);
        match expected {
            Some(e) if e == data_len => {}
            Some(e) => {
                return Err(npy_err(
                    Some(h.data_offset),
                    format!(
                        "the header says shape {shape} of '{}' = {e} bytes, but {data_len} bytes follow the header",
                        h.dtype.descr
                    ),
                ));
            }
            None => {
                return Err(npy_err(
                    Some(h.data_offset),
                    format!("the header's shape {shape} is too large to address"),
                ));
            }
        }
    }
    let decode_err =
        |e: ndarray_npy::ReadNpyError| npy_err(None, format!("cannot decode the array: {e}"));
    macro_rules! read {
        ($t:ty, $v:ident) => {
            Data::$v(ArrayD::<$t>::read_npy(Cursor::new(bytes)).map_err(decode_err)?)
        };
    }
    let data = match (h.dtype.kind, h.dtype.size) {
        (Kind::Object, _) => {
            let pickle = &bytes[h.data_offset..];
            // Plain data too large to decode is an error of the file; a
            // pickle of anything else is compared by its bytes later.
            crate::pickle::check_limits(pickle).map_err(|error| match error {
                crate::pickle::PickleError::OverLimit { at, message } => {
                    npy_err(Some(h.data_offset + at), message)
                }
                crate::pickle::PickleError::NotPlainData(message) => npy_err(None, message),
            })?;
            Data::Object(pickle.to_vec())
        }
        (Kind::Float, 4) => read!(f32, F32),
        (Kind::Float, _) => read!(f64, F64),
        (Kind::Int, 1) => read!(i8, I8),
        (Kind::Int, 2) => read!(i16, I16),
        (Kind::Int, 4) => read!(i32, I32),
        (Kind::Int, _) => read!(i64, I64),
        (Kind::Uint, 1) => read!(u8, U8),
        (Kind::Uint, 2) => read!(u16, U16),
        (Kind::Uint, 4) => read!(u32, U32),
        (Kind::Uint, _) => read!(u64, U64),
        (Kind::Bool, _) => read!(bool, Bool),
    };
    Ok(Array {
        name: name.to_string(),
        dtype: h.dtype,
        shape: h.shape,
        fortran_order: h.fortran_order,
        data,
    })
}

/// An archive problem: which entry, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpzError {
    /// The `.npy` entry, when the problem is inside one.
    pub entry: Option<String>,
    pub error: NpyError,
}

impl fmt::Display for NpzError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.entry {
            Some(e) => write!(f, "entry `{e}`: {}", self.error),
            None => write!(f, "{}", self.error),
        }
    }
}

impl std::error::Error for NpzError {}

/// Largest array read (uncompressed `.npy` bytes). Two arrays, one of each
/// side, are in memory at a time, each about twice (bytes and decoded).
pub const MAX_ARRAY_BYTES: u64 = 128 << 20;
/// Largest total of inflated bytes read from one archive (a zip bomb of many
/// small-declaring entries stops here).
pub const MAX_ARCHIVE_BYTES: u64 = 1 << 30;
/// Largest `.npy` header read.
const MAX_HEADER_BYTES: usize = 1 << 20;

/// An `.npz` archive read one array at a time: entries are listed when it is
/// opened, and each is inflated only when asked for, after its `.npy` header
/// was checked against the size the zip declares.
pub struct NpzFile<R> {
    zip: zip::ZipArchive<R>,
    /// `(array name, entry index)` in archive order.
    entries: Vec<(String, usize)>,
    inflated: u64,
}

impl<R: Read + std::io::Seek> NpzFile<R> {
    /// Opens an archive and lists its arrays; every entry must be a `.npy`.
    pub fn new(reader: R) -> Result<Self, NpzError> {
        let mut zip = zip::ZipArchive::new(reader).map_err(|e| {
            whole(format!(
                "not an .npz archive: not a readable zip file ({e})"
            ))
        })?;
        let mut entries = Vec::with_capacity(zip.len());
        for index in 0..zip.len() {
            let entry = zip.by_index_raw(index).map_err(|e| {
                whole(format!(
                    "not an .npz archive: cannot open zip entry {index} ({e})"
                ))
            })?;
            if entry.is_dir() {
                continue;
            }
            let entry_name = entry.name().to_string();
            let Some(name) = entry_name.strip_suffix(".npy") else {
                return Err(NpzError {
                    entry: Some(entry_name),
                    error: npy_err(
                        None,
                        "not an .npz archive: every entry must be a `.npy` array",
                    ),
                });
            };
            entries.push((name.to_string(), index));
        }
        Ok(Self {
            zip,
            entries,
            inflated: 0,
        })
    }

    /// The arrays' names, in archive order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(name, _)| name.as_str())
    }

    /// Whether the archive holds an array of that name.
    pub fn contains(&self, name: &str) -> bool {
        self.entries.iter().any(|(entry, _)| entry == name)
    }

    /// Inflates and decodes one array.
    pub fn read(&mut self, name: &str) -> Result<Array, NpzError> {
        let Some(index) = self
            .entries
            .iter()
            .find(|(entry, _)| entry == name)
            .map(|(_, index)| *index)
        else {
            return Err(whole(format!("no array `{name}` in the archive")));
        };
        let at = |error: NpyError| NpzError {
            entry: Some(format!("{name}.npy")),
            error,
        };
        let mut entry = self.zip.by_index(index).map_err(|e| {
            whole(format!(
                "not an .npz archive: cannot open zip entry {index} ({e})"
            ))
        })?;
        let declared = entry.size();
        if declared > MAX_ARRAY_BYTES {
            return Err(at(npy_err(
                None,
                format!(
                    "the zip declares {declared} bytes, more than the {} MiB limit for one array",
                    MAX_ARRAY_BYTES >> 20
                ),
            )));
        }
        if self.inflated.saturating_add(declared) > MAX_ARCHIVE_BYTES {
            return Err(at(npy_err(
                None,
                format!(
                    "the archive inflates to more than {} MiB in all",
                    MAX_ARCHIVE_BYTES >> 20
                ),
            )));
        }
        let bytes = inflate_checked(&mut entry, declared).map_err(at)?;
        self.inflated += bytes.len() as u64;
        drop(entry);
        read_npy(name, &bytes).map_err(at)
    }
}

fn whole(message: String) -> NpzError {
    NpzError {
        entry: None,
        error: npy_err(None, message),
    }
}

/// Reads an entry of `declared` bytes: first its `.npy` header, whose shape
/// and dtype must account for exactly the declared size, then the data, never
/// more than declared (a lying zip is cut off and refused).
fn inflate_checked(entry: &mut impl Read, declared: u64) -> Result<Vec<u8>, NpyError> {
    let decompress = |e: std::io::Error| npy_err(None, format!("cannot decompress: {e}"));
    let mut limited = entry.take(declared + 1);
    let mut bytes = Vec::new();
    (&mut limited)
        .take(12)
        .read_to_end(&mut bytes)
        .map_err(decompress)?;
    if bytes.len() >= 10 && bytes.starts_with(MAGIC) {
        let (length, start) = match bytes[6] {
            1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
            _ if bytes.len() >= 12 => (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            ),
            _ => (0, 12),
        };
        if length > MAX_HEADER_BYTES {
            return Err(npy_err(
                Some(start - 2),
                format!("the header claims {length} bytes, more than the 1 MiB allowed"),
            ));
        }
        let header_end = (start + length) as u64;
        let have = bytes.len() as u64;
        (&mut limited)
            .take(header_end.saturating_sub(have))
            .read_to_end(&mut bytes)
            .map_err(decompress)?;
        let header = parse_header(&bytes)?;
        if let Some(expected) = data_bytes(&header) {
            let total = (header.data_offset as u64).checked_add(expected);
            if total != Some(declared) {
                return Err(npy_err(
                    Some(header.data_offset),
                    format!(
                        "the header says shape {} of '{}' = {expected} bytes, but {} bytes follow the header",
                        shape_text(&header.shape),
                        header.dtype.descr,
                        declared.saturating_sub(header.data_offset as u64)
                    ),
                ));
            }
        }
    }
    bytes.reserve(
        usize::try_from(declared)
            .unwrap_or(0)
            .saturating_sub(bytes.len()),
    );
    limited.read_to_end(&mut bytes).map_err(decompress)?;
    if bytes.len() as u64 > declared {
        return Err(npy_err(
            None,
            format!("the entry inflates to more than the {declared} bytes the zip declares"),
        ));
    }
    if (bytes.len() as u64) < declared {
        return Err(npy_err(
            None,
            format!(
                "the entry inflates to {} bytes, but the zip declares {declared}",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

/// The data size a header's shape and dtype call for; `None` for object
/// arrays (pickles have no fixed size) and shapes too large to address.
fn data_bytes(header: &Header) -> Option<u64> {
    if header.dtype.kind == Kind::Object {
        return None;
    }
    header
        .shape
        .iter()
        .try_fold(header.dtype.size as u64, |acc, &dim| {
            acc.checked_mul(dim as u64)
        })
        .or(Some(u64::MAX))
}

/// Reads every array of an in-memory `.npz` archive, in archive order (for
/// small inputs and fuzzing; files are compared with [`NpzFile`]).
pub fn read_npz(bytes: &[u8]) -> Result<Vec<Array>, NpzError> {
    let mut archive = NpzFile::new(Cursor::new(bytes))?;
    let names: Vec<String> = archive.names().map(str::to_string).collect();
    names.iter().map(|name| archive.read(name)).collect()
}

/// `(4, 11, 11)`, `(81,)`, `()` as numpy prints shapes.
pub fn shape_text(shape: &[usize]) -> String {
    match shape {
        [one] => format!("({one},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A minimal reader of the Python literals used in `.npy` headers: dicts,
/// strings, True/False, integers, tuples and lists.
mod literal {
    #[derive(Debug, Clone, PartialEq)]
    pub(super) enum Lit {
        Dict(Vec<(String, Lit)>),
        Str(String),
        Bool(bool),
        Int(usize),
        Tuple(Vec<Lit>),
        List(Vec<Lit>),
        None,
    }

    type Res<T> = Result<T, (usize, String)>;

    struct P<'a> {
        s: &'a [u8],
        i: usize,
        depth: usize,
    }

    pub(super) fn parse(text: &str) -> Res<Lit> {
        let mut p = P {
            s: text.as_bytes(),
            i: 0,
            depth: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err((p.i, "unexpected text after the dict".into()));
        }
        Ok(v)
    }

    impl P<'_> {
        fn ws(&mut self) {
            while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
                self.i += 1;
            }
        }

        fn peek(&mut self) -> Option<u8> {
            self.ws();
            self.s.get(self.i).copied()
        }

        fn value(&mut self) -> Res<Lit> {
            self.depth += 1;
            if self.depth > 32 {
                return Err((self.i, "nested too deeply".into()));
            }
            let v = match self.peek() {
                Some(b'{') => self.dict(),
                Some(b'(') => self.seq(b')').map(Lit::Tuple),
                Some(b'[') => self.seq(b']').map(Lit::List),
                Some(b'\'' | b'"') => self.string().map(Lit::Str),
                Some(c) if c.is_ascii_digit() => self.int(),
                Some(c) if c.is_ascii_alphabetic() => self.word(),
                Some(c) => Err((self.i, format!("unexpected character '{}'", c as char))),
                None => Err((self.i, "unexpected end".into())),
            };
            self.depth -= 1;
            v
        }

        fn dict(&mut self) -> Res<Lit> {
            self.i += 1;
            let mut items = Vec::new();
            loop {
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(Lit::Dict(items));
                }
                let Lit::Str(key) = self.value()? else {
                    return Err((self.i, "expected a string key".into()));
                };
                if self.peek() != Some(b':') {
                    return Err((self.i, "expected ':'".into()));
                }
                self.i += 1;
                let v = self.value()?;
                items.push((key, v));
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(b'}') => {}
                    _ => return Err((self.i, "expected ',' or '}'".into())),
                }
            }
        }

        fn seq(&mut self, close: u8) -> Res<Vec<Lit>> {
            self.i += 1;
            let mut items = Vec::new();
            loop {
                if self.peek() == Some(close) {
                    self.i += 1;
                    return Ok(items);
                }
                items.push(self.value()?);
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(c) if c == close => {}
                    _ => return Err((self.i, format!("expected ',' or '{}'", close as char))),
                }
            }
        }

        fn string(&mut self) -> Res<String> {
            let quote = self.s[self.i];
            let start = self.i + 1;
            let mut j = start;
            while j < self.s.len() && self.s[j] != quote {
                if self.s[j] == b'\\' {
                    j += 1;
                }
                j += 1;
            }
            if j >= self.s.len() {
                return Err((self.i, "unterminated string".into()));
            }
            self.i = j + 1;
            Ok(String::from_utf8_lossy(&self.s[start..j]).into_owned())
        }

        fn int(&mut self) -> Res<Lit> {
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                self.i += 1;
            }
            // Python 2 headers may write longs as `3L`.
            if self.s.get(self.i) == Some(&b'L') {
                self.i += 1;
            }
            let digits = std::str::from_utf8(&self.s[start..self.i])
                .unwrap_or("")
                .trim_end_matches('L');
            digits
                .parse()
                .map(Lit::Int)
                .map_err(|_| (start, format!("integer '{digits}' out of range")))
        }

        fn word(&mut self) -> Res<Lit> {
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i].is_ascii_alphanumeric() {
                self.i += 1;
            }
            match &self.s[start..self.i] {
                b"True" => Ok(Lit::Bool(true)),
                b"False" => Ok(Lit::Bool(false)),
                b"None" => Ok(Lit::None),
                w => Err((
                    start,
                    format!("unexpected word '{}'", String::from_utf8_lossy(w)),
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests;
