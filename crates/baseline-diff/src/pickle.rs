//! The objects of a numpy object array (`|O`), decoded from its pickle
//! without running any code, and compared as Python's `==` would.
//!
//! `np.save` writes an object array as `pickle.dump(array)`: the ndarray is
//! rebuilt with `numpy.core.multiarray._reconstruct` and its state (version,
//! shape, dtype, order, the list of objects). Before anything is decoded the
//! pickle is screened opcode by opcode ([`screen`]): it may name only those
//! numpy globals, may not instantiate classes (`NEWOBJ`, `INST`, `OBJ`),
//! reference persistent ids or out-of-band buffers, share a container
//! through the memo (which could expand a small pickle into a huge value),
//! nest deeper than [`MAX_DEPTH`], or declare lengths beyond its own end.
//! What passes holds only dicts, lists, tuples, sets, strings, bytes,
//! numbers, booleans and `None`, and is decoded by `serde-pickle`.
//!
//! Plain data is also bounded before `serde-pickle` sees it: every value the
//! pickle pushes is charged against [`MAX_DECODED_BYTES`], and every memo
//! reference (`GET`) or `DUP` is charged the whole size of the value it
//! repeats, each time, since `serde-pickle` materialises a copy for each use
//! (a 4 MiB string referenced 1000 times is 4 GB decoded); integers longer
//! than [`MAX_INT_BYTES`] are refused, since decoding and printing them is
//! quadratic. Past either limit the pickle is [`PickleError::OverLimit`]: an
//! error of the file, not a difference to compare by bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_pickle::{HashableValue, Value};

/// Deepest nesting of containers accepted.
pub const MAX_DEPTH: u32 = 64;

/// Most bytes the objects of one object array may decode to, each memo
/// reference counted in full each time it is used. Townlet's metadata (a
/// dict of names and shapes) is a few KiB.
pub const MAX_DECODED_BYTES: u64 = 16 << 20;

/// Longest integer accepted, in bytes of its two's complement (`LONG1`,
/// `LONG4`); text integers (`INT`, `LONG`) may have [`MAX_INT_DIGITS`]
/// digits. Townlet's metadata holds no integer beyond 64 bits.
pub const MAX_INT_BYTES: usize = 64;

/// Longest text integer accepted, in characters: as many digits as
/// [`MAX_INT_BYTES`] bytes hold, and a sign.
pub const MAX_INT_DIGITS: usize = 156;

/// What one value costs decoded, besides its text or bytes.
const VALUE_BYTES: u64 = std::mem::size_of::<Value>() as u64;

/// Longest text kept while screening (module and global names); longer
/// texts are only measured.
const MAX_KEPT_TEXT: usize = 256;

/// Why a pickle is not decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickleError {
    /// Not plain data, or not a valid pickle: never decoded, compared by
    /// its bytes instead.
    NotPlainData(String),
    /// Plain data past a decoding limit ([`MAX_DECODED_BYTES`],
    /// [`MAX_INT_BYTES`]): the file cannot be judged, which is an error.
    /// `at` is the byte of the opcode that crossed the limit.
    OverLimit { at: usize, message: String },
}

impl std::fmt::Display for PickleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PickleError::NotPlainData(message) => f.write_str(message),
            PickleError::OverLimit { at, message } => {
                write!(f, "at byte {at} of the pickle: {message}")
            }
        }
    }
}

impl From<String> for PickleError {
    fn from(message: String) -> Self {
        PickleError::NotPlainData(message)
    }
}

impl From<&str> for PickleError {
    fn from(message: &str) -> Self {
        PickleError::NotPlainData(message.to_string())
    }
}

/// The globals a numpy object array's pickle uses, and nothing else.
const ALLOWED_GLOBALS: [(&str, &str); 4] = [
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
];

/// The objects of an object array, in C order.
#[derive(Debug, Clone, PartialEq)]
pub struct Objects {
    pub shape: Vec<usize>,
    pub items: Vec<Value>,
}

/// Checks only the decoding limits of a pickle: `Err` when it is plain data
/// too large to decode ([`PickleError::OverLimit`]). A pickle that is not
/// plain data passes here (it is compared by its bytes).
pub fn check_limits(bytes: &[u8]) -> Result<(), PickleError> {
    match screen(bytes) {
        Err(over @ PickleError::OverLimit { .. }) => Err(over),
        Ok(()) | Err(PickleError::NotPlainData(_)) => Ok(()),
    }
}

/// Decodes the pickle of a numpy object array; `Err` says why it cannot be
/// decoded safely.
pub fn decode_object_array(bytes: &[u8]) -> Result<Objects, PickleError> {
    screen(bytes)?;
    let options = serde_pickle::DeOptions::new()
        .decode_strings()
        .replace_unresolved_globals()
        .keep_restore_state();
    let value = serde_pickle::value_from_slice(bytes, options)
        .map_err(|e| format!("not a valid pickle: {e}"))?;
    // `_reconstruct(...)` is unresolved (None) and its BUILD state kept:
    // (version, shape, dtype state, fortran order, [objects]).
    let Value::Tuple(state) = value else {
        return Err(format!(
            "not the pickle of a numpy array: it holds {}",
            kind_name(&value)
        )
        .into());
    };
    let (Some(Value::Tuple(shape)), Some(Value::List(items))) = (state.get(1), state.get(4)) else {
        return Err("not the pickle of a numpy array: unexpected array state".into());
    };
    let shape: Vec<usize> = shape
        .iter()
        .map(|d| match d {
            Value::I64(n) => usize::try_from(*n).ok(),
            _ => None,
        })
        .collect::<Option<_>>()
        .ok_or("not the pickle of a numpy array: its shape is not a tuple of sizes")?;
    let count = shape.iter().try_fold(1usize, |acc, d| acc.checked_mul(*d));
    if count != Some(items.len()) {
        return Err(format!(
            "not the pickle of a numpy array: shape {shape:?} but {} objects",
            items.len()
        )
        .into());
    }
    Ok(Objects {
        shape,
        items: items.clone(),
    })
}

/// What a stack slot holds, as far as screening needs to know.
#[derive(Debug, Clone, PartialEq)]
enum Slot {
    Mark,
    /// A string or bytes of `size` bytes decoded; the text itself only when
    /// short enough to be a global's module or name.
    Text {
        text: Option<String>,
        size: u64,
    },
    /// A number, boolean or `None` of `size` bytes decoded.
    Scalar(u64),
    Global,
    Container(u32),
}

impl Slot {
    fn depth(&self) -> u32 {
        match self {
            Slot::Container(d) => *d,
            _ => 0,
        }
    }

    /// What one more copy of this value costs decoded.
    fn size(&self) -> u64 {
        match self {
            Slot::Text { size, .. } | Slot::Scalar(size) => *size,
            Slot::Mark | Slot::Global | Slot::Container(_) => VALUE_BYTES,
        }
    }

    /// A string or bytes slot for `bytes`.
    fn text(bytes: &[u8]) -> Slot {
        Slot::Text {
            text: (bytes.len() <= MAX_KEPT_TEXT)
                .then(|| String::from_utf8_lossy(bytes).into_owned()),
            size: VALUE_BYTES + bytes.len() as u64,
        }
    }
}

/// Checks that a pickle only builds plain data within the decoding limits
/// (see the module docs).
pub fn screen(bytes: &[u8]) -> Result<(), PickleError> {
    let mut screen = Screen {
        bytes,
        at: 0,
        op_at: 0,
        decoded: 0,
        stack: Vec::new(),
        memo: BTreeMap::new(),
    };
    while screen.at < bytes.len() {
        let op = bytes[screen.at];
        let op_at = screen.at;
        screen.op_at = op_at;
        screen.at += 1;
        if op == b'.' {
            return Ok(());
        }
        let known = screen.literal(op)?
            || screen.container_op(op)?
            || screen.memo_op(op)?
            || screen.object_op(op, op_at)?;
        if !known {
            return Err(format!("unknown pickle opcode 0x{op:02x} at byte {op_at}").into());
        }
    }
    Err("the pickle has no STOP opcode".into())
}

/// The state of screening: the bytes, where it is, what the stack and the
/// memo hold, and how many bytes the values pushed so far decode to.
struct Screen<'a> {
    bytes: &'a [u8],
    at: usize,
    op_at: usize,
    decoded: u64,
    stack: Vec<Slot>,
    memo: BTreeMap<u64, Slot>,
}

impl Screen<'_> {
    /// Pushes `slot`, charging its decoded size against the budget.
    fn push(&mut self, slot: Slot) -> Result<(), PickleError> {
        self.decoded = self.decoded.saturating_add(slot.size());
        if self.decoded > MAX_DECODED_BYTES {
            return Err(PickleError::OverLimit {
                at: self.op_at,
                message: format!(
                    "the pickled objects decode to more than {} (each memo reference counted in full, as decoding copies the value it repeats): refused, not decoded",
                    rollout_core::output::human_bytes(MAX_DECODED_BYTES)
                ),
            });
        }
        self.stack.push(slot);
        Ok(())
    }

    /// Refuses an integer of `len` bytes (or digits, `unit`) beyond `max`.
    fn check_int(&self, len: usize, max: usize, unit: &str) -> Result<(), PickleError> {
        if len > max {
            return Err(PickleError::OverLimit {
                at: self.op_at,
                message: format!(
                    "an integer of {len} {unit}: integers longer than {max} {unit} are refused, not decoded (decoding one takes time that grows with the square of its length)"
                ),
            });
        }
        Ok(())
    }

    /// The next `n` bytes, which must be there.
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let at = self.at;
        let end = at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| format!("truncated at byte {at}: {n} bytes declared"))?;
        self.at = end;
        Ok(&self.bytes[at..end])
    }

    /// A little-endian unsigned integer of `width` bytes.
    fn uint(&mut self, width: usize) -> Result<u64, String> {
        let b = self.take(width)?;
        Ok(b.iter()
            .rev()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    }

    /// A length of `width` bytes, then that many bytes.
    fn counted(&mut self, width: usize) -> Result<&[u8], String> {
        let n = self.uint(width)?;
        let n = usize::try_from(n).map_err(|_| "a length longer than memory")?;
        self.take(n)
    }

    /// Text up to the next newline (text opcodes of protocol 0).
    fn line(&mut self) -> Result<String, String> {
        let at = self.at;
        let rest = &self.bytes[at..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| format!("truncated at byte {at}: a line without its end"))?;
        let text = String::from_utf8_lossy(&rest[..n]).into_owned();
        self.at += n + 1;
        Ok(text)
    }

    fn pop(&mut self) -> Result<Slot, String> {
        self.stack
            .pop()
            .ok_or_else(|| "the pickle pops an empty stack".to_string())
    }

    fn pop_to_mark(&mut self) -> Result<Vec<Slot>, String> {
        let m = self
            .stack
            .iter()
            .rposition(|s| *s == Slot::Mark)
            .ok_or("an opcode expected a MARK that is not there")?;
        let items = self.stack.split_off(m + 1);
        self.stack.pop();
        Ok(items)
    }

    /// Pushes a new container holding `items`.
    fn push_container(&mut self, items: &[Slot]) -> Result<(), PickleError> {
        let d = nesting(items)?;
        self.push(Slot::Container(d))
    }

    /// Adds `items` to the container on top of the stack.
    fn fill(&mut self, items: &[Slot]) -> Result<(), String> {
        let d = nesting(items)?;
        let top = self
            .stack
            .last_mut()
            .ok_or("the pickle adds to an empty stack")?;
        if let Slot::Container(own) = top {
            *own = (*own).max(d);
        }
        Ok(())
    }

    /// Numbers, strings, bytes, booleans, None and framing.
    fn literal(&mut self, op: u8) -> Result<bool, PickleError> {
        let slot = match op {
            // PROTO, FRAME: framing only.
            0x80 => {
                self.take(1)?;
                return Ok(true);
            }
            0x95 => {
                self.take(8)?;
                return Ok(true);
            }
            // NONE, NEWTRUE, NEWFALSE
            b'N' | 0x88 | 0x89 => Slot::Scalar(VALUE_BYTES),
            // BININT1, BININT2, BININT, BINFLOAT
            b'K' | b'M' | b'J' | b'G' => {
                let width = match op {
                    b'K' => 1,
                    b'M' => 2,
                    b'J' => 4,
                    _ => 8,
                };
                self.take(width)?;
                Slot::Scalar(VALUE_BYTES)
            }
            // LONG1, LONG4
            0x8a | 0x8b => {
                let len = self.counted(if op == 0x8a { 1 } else { 4 })?.len();
                self.check_int(len, MAX_INT_BYTES, "bytes")?;
                Slot::Scalar(VALUE_BYTES + len as u64)
            }
            // INT, LONG: text lines
            b'I' | b'L' => {
                let len = self.line()?.trim().len();
                self.check_int(len, MAX_INT_DIGITS, "digits")?;
                Slot::Scalar(VALUE_BYTES + len as u64)
            }
            // FLOAT: a text line
            b'F' => {
                self.line()?;
                Slot::Scalar(VALUE_BYTES)
            }
            // STRING, UNICODE: text lines
            b'S' | b'V' => Slot::text(self.line()?.as_bytes()),
            // SHORT_BINUNICODE, BINUNICODE, BINUNICODE8, SHORT_BINSTRING,
            // BINSTRING, SHORT_BINBYTES, BINBYTES, BINBYTES8, BYTEARRAY8
            0x8c | b'X' | 0x8d | b'U' | b'T' | b'C' | b'B' | 0x8e | 0x96 => {
                let width = match op {
                    0x8c | b'U' | b'C' => 1,
                    b'X' | b'T' | b'B' => 4,
                    _ => 8,
                };
                Slot::text(self.counted(width)?)
            }
            _ => return Ok(false),
        };
        self.push(slot)?;
        Ok(true)
    }

    /// Tuples, lists, dicts and sets, made and filled, and stack moves.
    fn container_op(&mut self, op: u8) -> Result<bool, PickleError> {
        match op {
            b'(' => self.stack.push(Slot::Mark),
            // EMPTY_TUPLE, EMPTY_LIST, EMPTY_DICT, EMPTY_SET
            b')' | b']' | b'}' | 0x8f => self.push(Slot::Container(1))?,
            // TUPLE, LIST, DICT, FROZENSET
            b't' | b'l' | b'd' | 0x91 => {
                let items = self.pop_to_mark()?;
                self.push_container(&items)?;
            }
            // TUPLE1, TUPLE2, TUPLE3
            0x85..=0x87 => {
                let n = usize::from(op - 0x84);
                if self.stack.len() < n {
                    return Err("the pickle pops an empty stack".into());
                }
                let items = self.stack.split_off(self.stack.len() - n);
                if items.contains(&Slot::Mark) {
                    return Err("a tuple holds a MARK".into());
                }
                self.push_container(&items)?;
            }
            // APPEND
            b'a' => {
                let item = self.pop()?;
                self.fill(&[item])?;
            }
            // SETITEM
            b's' => {
                let value = self.pop()?;
                let key = self.pop()?;
                self.fill(&[key, value])?;
            }
            // APPENDS, SETITEMS, ADDITEMS
            b'e' | b'u' | 0x90 => {
                let items = self.pop_to_mark()?;
                self.fill(&items)?;
            }
            // POP, POP_MARK, DUP
            b'0' => {
                self.pop()?;
            }
            b'1' => {
                self.pop_to_mark()?;
            }
            b'2' => {
                let top = self.stack.last().cloned().ok_or("DUP of an empty stack")?;
                if matches!(top, Slot::Container(_)) {
                    return Err("it duplicates a container".into());
                }
                self.push(top)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// MEMOIZE, PUT and GET: a container may not be referenced twice, and
    /// each GET is charged the whole value it repeats.
    fn memo_op(&mut self, op: u8) -> Result<bool, PickleError> {
        match op {
            // MEMOIZE, PUT, BINPUT, LONG_BINPUT
            0x94 | b'p' | b'q' | b'r' => {
                let index = match op {
                    0x94 => self.memo.len() as u64,
                    b'p' => self
                        .line()?
                        .trim()
                        .parse()
                        .map_err(|_| "PUT with a bad index")?,
                    b'q' => self.uint(1)?,
                    _ => self.uint(4)?,
                };
                let top = self
                    .stack
                    .last()
                    .cloned()
                    .ok_or("MEMOIZE of an empty stack")?;
                self.memo.insert(index, top);
            }
            // GET, BINGET, LONG_BINGET
            b'g' | b'h' | b'j' => {
                let index = match op {
                    b'g' => self
                        .line()?
                        .trim()
                        .parse()
                        .map_err(|_| "GET with a bad index")?,
                    b'h' => self.uint(1)?,
                    _ => self.uint(4)?,
                };
                let slot = self
                    .memo
                    .get(&index)
                    .cloned()
                    .ok_or_else(|| format!("GET of memo {index}, which was never set"))?;
                if matches!(slot, Slot::Container(_)) {
                    return Err(
                        "it shares one container in several places (memo reference to a list, dict or tuple)"
                            .into(),
                    );
                }
                self.push(slot)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Globals (only the allowed ones), REDUCE of them and BUILD; every way
    /// of making another object is refused.
    fn object_op(&mut self, op: u8, op_at: usize) -> Result<bool, PickleError> {
        match op {
            // GLOBAL: module and name on two lines
            b'c' => {
                let module = self.line()?;
                let name = self.line()?;
                self.push(global(&module, &name)?)?;
            }
            // STACK_GLOBAL
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                let (
                    Slot::Text {
                        text: Some(module), ..
                    },
                    Slot::Text {
                        text: Some(name), ..
                    },
                ) = (module, name)
                else {
                    return Err("STACK_GLOBAL without a module and name".into());
                };
                self.push(global(&module, &name)?)?;
            }
            // REDUCE: only an allowed global applied to its arguments
            b'R' => {
                let args = self.pop()?;
                if self.pop()? != Slot::Global {
                    return Err("REDUCE of something that is not an allowed global".into());
                }
                self.push_container(&[args])?;
            }
            // BUILD: sets the state of the object below it
            b'b' => {
                let state = self.pop()?;
                self.fill(&[state])?;
            }
            // NEWOBJ, NEWOBJ_EX, OBJ, INST, PERSID, BINPERSID, EXT1/2/4,
            // NEXT_BUFFER, READONLY_BUFFER
            0x81 | 0x92 | b'o' | b'i' | b'P' | b'Q' | 0x82 | 0x83 | 0x84 | 0x97 | 0x98 => {
                return Err(format!(
                    "opcode 0x{op:02x} at byte {op_at} builds objects other than plain data"
                )
                .into());
            }
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// The nesting of a container holding `items`, at most [`MAX_DEPTH`].
fn nesting(items: &[Slot]) -> Result<u32, String> {
    let d = items.iter().map(Slot::depth).max().unwrap_or(0) + 1;
    if d > MAX_DEPTH {
        return Err(format!("containers nest deeper than {MAX_DEPTH}"));
    }
    Ok(d)
}

/// An allowed global, or why it is refused.
fn global(module: &str, name: &str) -> Result<Slot, String> {
    if ALLOWED_GLOBALS.contains(&(module, name)) {
        Ok(Slot::Global)
    } else {
        Err(format!(
            "it names `{module}.{name}`, which is not plain data (only numpy's array reconstruction is decoded)"
        ))
    }
}

/// The first difference between two decoded object arrays as Python's
/// `==` would see it (`1 == 1.0`, `True == 1`, a list never equals a tuple,
/// dicts by their key sets; NaN equals NaN here), with its path.
pub fn first_difference(base: &Objects, cand: &Objects) -> Option<Difference> {
    if base.shape != cand.shape {
        return Some(Difference {
            path: String::new(),
            what: format!(
                "shape {:?} in the baseline, {:?} in the candidate",
                base.shape, cand.shape
            ),
            values: None,
        });
    }
    base.items
        .iter()
        .zip(&cand.items)
        .enumerate()
        .find_map(|(i, (b, c))| diff(&format!("[{i}]"), b, c))
}

/// Where two objects first differ, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// `[0]['feature_names'][3]`.
    pub path: String,
    pub what: String,
    /// The two values there (Python-like), when the difference is one of
    /// values rather than of lengths or keys.
    pub values: Option<(String, String)>,
}

fn diff(path: &str, b: &Value, c: &Value) -> Option<Difference> {
    let here = |what: String| {
        Some(Difference {
            path: path.to_string(),
            what,
            values: None,
        })
    };
    let values = || {
        let (rb, rc) = (repr(b), repr(c));
        Some(Difference {
            path: path.to_string(),
            what: format!("baseline {rb}, candidate {rc}"),
            values: Some((rb, rc)),
        })
    };
    match (b, c) {
        (Value::List(x), Value::List(y)) | (Value::Tuple(x), Value::Tuple(y)) => {
            let found = x
                .iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (u, v))| diff(&format!("{path}[{i}]"), u, v));
            if found.is_some() {
                return found;
            }
            if x.len() != y.len() {
                return here(format!(
                    "{} items in the baseline, {} in the candidate",
                    x.len(),
                    y.len()
                ));
            }
            None
        }
        (Value::Dict(x), Value::Dict(y)) => {
            for (k, u) in x {
                let key = repr(&k.clone().into_value());
                match y.get(k) {
                    Some(v) => {
                        if let Some(d) = diff(&format!("{path}[{key}]"), u, v) {
                            return Some(d);
                        }
                    }
                    None => return here(format!("key {key} missing in the candidate")),
                }
            }
            y.keys().find(|k| !x.contains_key(*k)).and_then(|k| {
                here(format!(
                    "key {} only in the candidate",
                    repr(&k.clone().into_value())
                ))
            })
        }
        (Value::Set(x), Value::Set(y)) | (Value::FrozenSet(x), Value::FrozenSet(y)) => {
            (!same_hashables(x, y)).then(values).flatten()
        }
        _ => match (number(b), number(c)) {
            (Some(u), Some(v)) => (!(u == v || (u.is_nan() && v.is_nan())))
                .then(values)
                .flatten(),
            _ if std::mem::discriminant(b) == std::mem::discriminant(c) && b == c => None,
            _ => values(),
        },
    }
}

fn same_hashables(
    x: &std::collections::BTreeSet<HashableValue>,
    y: &std::collections::BTreeSet<HashableValue>,
) -> bool {
    x.len() == y.len()
        && x.iter()
            .zip(y)
            .all(|(a, b)| diff("", &a.clone().into_value(), &b.clone().into_value()).is_none())
}

/// Python's numeric tower: bool, int and float compare by value.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::I64(n) => Some(*n as f64),
        Value::F64(f) => Some(*f),
        Value::Int(big) => big.to_string().parse().ok(),
        _ => None,
    }
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::None => "None",
        Value::Bool(_) => "a bool",
        Value::I64(_) | Value::Int(_) => "an int",
        Value::F64(_) => "a float",
        Value::Bytes(_) => "bytes",
        Value::String(_) => "a str",
        Value::List(_) => "a list",
        Value::Tuple(_) => "a tuple",
        Value::Set(_) | Value::FrozenSet(_) => "a set",
        Value::Dict(_) => "a dict",
    }
}

/// A short Python-like rendering (`'wallet'`, `(4, 11, 11)`, `{'a': 1}`).
pub fn repr(v: &Value) -> String {
    let mut out = String::new();
    write_repr(&mut out, v);
    if out.chars().count() > 80 {
        let cut: String = out.chars().take(77).collect();
        return format!("{cut}...");
    }
    out
}

fn write_repr(out: &mut String, v: &Value) {
    if out.len() > 200 {
        return;
    }
    let seq =
        |out: &mut String, items: &mut dyn Iterator<Item = Value>, open: &str, close: &str| {
            out.push_str(open);
            for (i, item) in items.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, &item);
            }
            out.push_str(close);
        };
    match v {
        Value::None => out.push_str("None"),
        Value::Bool(b) => out.push_str(if *b { "True" } else { "False" }),
        Value::I64(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        Value::F64(f) => {
            let _ = write!(out, "{f:?}");
        }
        Value::String(s) => {
            let _ = write!(out, "'{}'", s.replace('\'', "\\'"));
        }
        Value::Bytes(b) => {
            let _ = write!(out, "b'{}'", b.escape_ascii());
        }
        Value::List(items) => seq(out, &mut items.iter().cloned(), "[", "]"),
        Value::Tuple(items) if items.len() == 1 => seq(out, &mut items.iter().cloned(), "(", ",)"),
        Value::Tuple(items) => seq(out, &mut items.iter().cloned(), "(", ")"),
        Value::Set(items) | Value::FrozenSet(items) => seq(
            out,
            &mut items.iter().cloned().map(HashableValue::into_value),
            "{",
            "}",
        ),
        Value::Dict(map) => {
            out.push('{');
            for (i, (k, val)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(out, &k.clone().into_value());
                out.push_str(": ");
                write_repr(out, val);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests;
