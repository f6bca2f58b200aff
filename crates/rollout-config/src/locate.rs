//! Maps key paths (`gate.steps[2].timeout`) to their line and column in a YAML
//! text, so that checks made after deserialisation can still point at the
//! offending place.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::Marker;

/// Where each key and value of a YAML document stands.
#[derive(Debug, Default)]
pub(crate) struct Locator {
    keys: HashMap<String, (usize, usize)>,
    values: HashMap<String, (usize, usize)>,
}

enum Frame {
    Map {
        path: String,
        pending_key: Option<String>,
        seen_key: bool,
    },
    Seq {
        path: String,
        index: usize,
    },
}

impl Locator {
    /// Builds the index. A text that does not parse yields an empty index:
    /// the deserialiser reports syntax errors with their own location.
    pub(crate) fn new(text: &str) -> Self {
        let mut loc = Locator::default();
        let mut parser = Parser::new_from_str(text);
        let mut stack: Vec<Frame> = Vec::new();
        while let Ok((event, mark)) = parser.next_token() {
            match event {
                Event::StreamEnd => break,
                Event::Scalar(value, ..) => {
                    if let Some(Frame::Map {
                        path,
                        pending_key,
                        seen_key,
                    }) = stack.last_mut()
                        && pending_key.is_none()
                    {
                        // A block mapping's start is reported after its
                        // first key; the first key is where it begins.
                        if !*seen_key {
                            *seen_key = true;
                            if !path.is_empty() {
                                loc.values.insert(path.clone(), pos(mark));
                            }
                        }
                        let key_path = join(path, &value);
                        loc.keys.insert(key_path.clone(), pos(mark));
                        *pending_key = Some(key_path);
                        continue;
                    }
                    let value_path = loc.value_path(&mut stack);
                    if let Some(p) = value_path {
                        loc.values.insert(p, pos(mark));
                    }
                }
                Event::Alias(_) => {
                    let value_path = loc.value_path(&mut stack);
                    if let Some(p) = value_path {
                        loc.values.insert(p, pos(mark));
                    }
                }
                Event::MappingStart(..) | Event::SequenceStart(..) => {
                    let path = loc.value_path(&mut stack).unwrap_or_default();
                    loc.values.insert(path.clone(), pos(mark));
                    stack.push(if matches!(event, Event::MappingStart(..)) {
                        Frame::Map {
                            path,
                            pending_key: None,
                            seen_key: false,
                        }
                    } else {
                        Frame::Seq { path, index: 0 }
                    });
                }
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                }
                _ => {}
            }
        }
        loc
    }

    /// The path of the value that starts now, advancing the parent frame.
    fn value_path(&self, stack: &mut [Frame]) -> Option<String> {
        match stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Map { pending_key, .. }) => pending_key.take(),
            Some(Frame::Seq { path, index }) => {
                let p = format!("{path}[{index}]");
                *index += 1;
                Some(p)
            }
        }
    }

    /// Line and column of the key at `path` (or, for a sequence item, of the
    /// item itself).
    pub(crate) fn key(&self, path: &str) -> Option<(usize, usize)> {
        self.keys
            .get(path)
            .or_else(|| self.values.get(path))
            .copied()
    }

    /// Line and column of the value at `path`, falling back to its key.
    pub(crate) fn value(&self, path: &str) -> Option<(usize, usize)> {
        self.values
            .get(path)
            .or_else(|| self.keys.get(path))
            .copied()
    }

    /// The closest located ancestor of `path`, for keys that are absent.
    pub(crate) fn nearest(&self, path: &str) -> Option<(usize, usize)> {
        let mut p = path;
        loop {
            if let Some(found) = self.key(p) {
                return Some(found);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

fn pos(mark: Marker) -> (usize, usize) {
    // yaml-rust2 counts lines from 1 and columns from 0.
    (mark.line(), mark.col() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_nested_keys_and_sequence_items() {
        let text = "a:\n  b: 1\nsteps:\n  - id: x\n    timeout: 5\n  - id: y\n    timeout: 7\n";
        let loc = Locator::new(text);
        assert_eq!(loc.key("a.b"), Some((2, 3)));
        assert_eq!(loc.value("a.b"), Some((2, 6)));
        assert_eq!(loc.key("steps[1].timeout"), Some((7, 5)));
        assert_eq!(loc.value("steps[1]"), Some((6, 5)));
        assert_eq!(loc.nearest("steps[1].missing"), Some((6, 5)));
    }
}
