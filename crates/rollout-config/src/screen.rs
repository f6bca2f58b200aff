//! What a YAML text must pass before it is deserialised, checked in one pass
//! over the events of a streaming parser (yaml-rust2), in time linear in the
//! text: mappings and lists nested at most [`MAX_DEPTH`] deep, only the tags
//! the file's reader accepts, and (in the tooling's own files) aliases that
//! expand to at most [`MAX_EXPANDED_NODES`] values.
//!
//! The deserialiser and the key locator both do work that grows with the
//! square of the nesting depth, so a deep text must be refused before either
//! sees it.

use std::collections::HashMap;
use std::path::Path;

use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::Marker;

use crate::error::ConfigError;

/// Deepest nesting of mappings and lists accepted in any file: the limit of
/// the deserialiser (serde_yaml_ng) itself, so that every file is refused in
/// the same words; Townlet's PyYAML fails deeper (at about 490 levels).
pub(crate) const MAX_DEPTH: usize = 128;

/// Most values a document of the tooling's own may hold once its aliases
/// (`*name`) are expanded: far above any real config, far below a
/// "billion laughs".
pub(crate) const MAX_EXPANDED_NODES: u64 = 1_000_000;

/// Which reader a file is meant for, which decides the tags it may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reader {
    /// The tooling's own files (`rollout.yaml`, thresholds, manifests):
    /// only the core schema tags the deserialiser honours.
    Own,
    /// Townlet's simulation configs, read by PyYAML's `yaml.safe_load`:
    /// the tags of its `SafeConstructor`, nothing else.
    SafeLoad,
}

/// The core schema tags (`!!str`, …) the deserialiser honours.
const OWN_TAGS: [&str; 7] = ["str", "int", "float", "bool", "null", "seq", "map"];

/// The tags PyYAML's `SafeConstructor` has a constructor for.
const SAFE_LOAD_TAGS: [&str; 12] = [
    "str",
    "int",
    "float",
    "bool",
    "null",
    "seq",
    "map",
    "binary",
    "timestamp",
    "omap",
    "pairs",
    "set",
];

const CORE_PREFIX: &str = "tag:yaml.org,2002:";

/// What the screen found in a text it did not refuse.
#[derive(Debug)]
pub(crate) enum Screened {
    /// Read to its end: nothing to refuse.
    Passed,
    /// The screening parser stopped at a syntax error before the end. The
    /// deserialiser's message for it is the better one; should the
    /// deserialiser accept the text all the same, this error refuses it,
    /// since what follows the error was not screened.
    Unread(ConfigError),
}

/// Refuses `text` (the contents of `file`) when it nests too deep, carries
/// a tag `reader` does not accept, or (for [`Reader::Own`]) expands its
/// aliases too far.
pub(crate) fn screen(text: &str, file: &Path, reader: Reader) -> Result<Screened, ConfigError> {
    let mut walk = Walk {
        file,
        reader,
        stack: Vec::new(),
        anchors: HashMap::new(),
        expanded: 0,
    };
    let mut parser = Parser::new_from_str(text);
    loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => return Ok(Screened::Passed),
            Ok((event, mark)) => walk.event(event, mark)?,
            // The parser's own limit: flow collections 256 deep, found
            // while it looks ahead, before it reports the first of them.
            Err(error) if error.info() == "recursion limit exceeded" => {
                return Err(walk.too_deep(*error.marker(), "mappings and lists"));
            }
            Err(error) => {
                let unread =
                    ConfigError::new(file, format!("cannot read the YAML here: {}", error.info()))
                        .at(Some(position(*error.marker())));
                return Ok(Screened::Unread(unread));
            }
        }
    }
}

/// A mapping or list being read.
struct Frame {
    /// Its anchor id (0: none).
    anchor: usize,
    /// Its own depth (the top-level node is at 1).
    depth: usize,
    /// The deepest level reached inside it, aliases expanded.
    deepest: usize,
    /// How many values it holds, itself included, aliases expanded.
    nodes: u64,
}

/// What an anchored node amounts to where an alias repeats it.
#[derive(Clone, Copy)]
struct Anchored {
    /// Levels of mappings and lists it adds (0 for a scalar).
    levels: usize,
    /// Values it holds, itself included.
    nodes: u64,
}

struct Walk<'a> {
    file: &'a Path,
    reader: Reader,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Anchored>,
    /// Values seen so far, aliases expanded.
    expanded: u64,
}

impl Walk<'_> {
    /// Takes one parser event.
    fn event(&mut self, event: Event, mark: Marker) -> Result<(), ConfigError> {
        match event {
            Event::MappingStart(anchor, tag) | Event::SequenceStart(anchor, tag) => {
                self.check_tag(tag.as_ref(), mark)?;
                let depth = self.stack.len() + 1;
                if depth > MAX_DEPTH {
                    return Err(self.too_deep(mark, "mappings and lists"));
                }
                self.count(1, mark)?;
                self.stack.push(Frame {
                    anchor,
                    depth,
                    deepest: depth,
                    nodes: 1,
                });
            }
            Event::MappingEnd | Event::SequenceEnd => self.close(),
            Event::Scalar(_, _, anchor, tag) => {
                self.check_tag(tag.as_ref(), mark)?;
                self.count(1, mark)?;
                if anchor != 0 {
                    self.anchors.insert(
                        anchor,
                        Anchored {
                            levels: 0,
                            nodes: 1,
                        },
                    );
                }
                self.add_to_parent(self.stack.len(), 1);
            }
            Event::Alias(anchor) => self.alias(anchor, mark)?,
            _ => {}
        }
        Ok(())
    }

    /// Ends the innermost mapping or list, recording it when anchored.
    fn close(&mut self) {
        let Some(frame) = self.stack.pop() else {
            return;
        };
        if frame.anchor != 0 {
            let levels = frame.deepest - frame.depth + 1;
            let anchored = Anchored {
                levels,
                nodes: frame.nodes,
            };
            self.anchors.insert(frame.anchor, anchored);
        }
        self.add_to_parent(frame.deepest, frame.nodes);
    }

    /// An alias repeats its anchor here: in the tooling's own files, which
    /// the deserialiser expands, it counts as the whole anchored value.
    fn alias(&mut self, anchor: usize, mark: Marker) -> Result<(), ConfigError> {
        let Some(anchored) = self.anchors.get(&anchor).copied() else {
            return Ok(());
        };
        let deepest = self.stack.len() + anchored.levels;
        if self.reader == Reader::Own {
            // PyYAML shares an aliased value instead of copying it, so only
            // the tooling's own files are judged with aliases expanded.
            if deepest > MAX_DEPTH {
                return Err(self.too_deep(mark, "values repeated by this alias"));
            }
            self.count(anchored.nodes, mark)?;
        }
        self.add_to_parent(deepest, anchored.nodes);
        Ok(())
    }

    /// Adds a finished child to the innermost open mapping or list.
    fn add_to_parent(&mut self, deepest: usize, nodes: u64) {
        if let Some(parent) = self.stack.last_mut() {
            parent.deepest = parent.deepest.max(deepest);
            parent.nodes = parent.nodes.saturating_add(nodes);
        }
    }

    /// Counts `nodes` more values, refusing a document of the tooling's own
    /// that its aliases blow up.
    fn count(&mut self, nodes: u64, mark: Marker) -> Result<(), ConfigError> {
        self.expanded = self.expanded.saturating_add(nodes);
        if self.reader == Reader::Own && self.expanded > MAX_EXPANDED_NODES {
            return Err(ConfigError::new(
                self.file,
                format!(
                    "aliases (`*name`) expand the document to more than {MAX_EXPANDED_NODES} values"
                ),
            )
            .at(Some(position(mark)))
            .hint("write the values out, or repeat fewer of them with aliases"));
        }
        Ok(())
    }

    /// Nesting deeper than [`MAX_DEPTH`] at `mark`.
    fn too_deep(&self, mark: Marker, what: &str) -> ConfigError {
        ConfigError::new(
            self.file,
            format!("{what} nested more than {MAX_DEPTH} deep"),
        )
        .at(Some(position(mark)))
    }

    /// Refuses a tag the file's reader does not accept.
    fn check_tag(&self, tag: Option<&Tag>, mark: Marker) -> Result<(), ConfigError> {
        let Some(tag) = tag else {
            return Ok(());
        };
        let full = format!("{}{}", tag.handle, tag.suffix);
        let core = full.strip_prefix(CORE_PREFIX);
        let accepted = match self.reader {
            Reader::Own => core.is_some_and(|name| OWN_TAGS.contains(&name)),
            // `!` alone is the non-specific tag: a plain string to PyYAML.
            Reader::SafeLoad => {
                full == "!" || core.is_some_and(|name| SAFE_LOAD_TAGS.contains(&name))
            }
        };
        if accepted {
            return Ok(());
        }
        let shown = match core {
            Some(name) => format!("!!{name}"),
            None => full,
        };
        let err = ConfigError::new(self.file, format!("unknown YAML tag `{shown}`"))
            .at(Some(position(mark)));
        Err(match self.reader {
            Reader::Own => err.hint(
                "remove the tag: this file takes plain values and includes no other file",
            ),
            Reader::SafeLoad => err.hint(
                "remove the tag: Townlet reads its configs with `yaml.safe_load`, which refuses it (could not determine a constructor)",
            ),
        })
    }
}

/// yaml-rust2 counts lines from 1 and columns from 0.
fn position(mark: Marker) -> (usize, usize) {
    (mark.line(), mark.col() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(text: &str, reader: Reader) -> String {
        match screen(text, Path::new("c.yaml"), reader) {
            Ok(screened) => panic!("expected a refusal of {text:.80}, got {screened:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn passes(text: &str, reader: Reader) {
        match screen(text, Path::new("c.yaml"), reader) {
            Ok(Screened::Passed) => {}
            other => panic!("expected {text:.80} to pass, got {other:?}"),
        }
    }

    fn flow_lists(depth: usize) -> String {
        format!("a: {}{}\n", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn nesting_up_to_the_limit_passes_and_one_more_is_refused_where_it_starts() {
        // The top-level mapping is level 1.
        passes(&flow_lists(MAX_DEPTH - 1), Reader::Own);
        let err = refusal(&flow_lists(MAX_DEPTH), Reader::SafeLoad);
        assert_eq!(
            err,
            format!(
                "c.yaml:1:{}: mappings and lists nested more than 128 deep",
                4 + 127
            )
        );
    }

    #[test]
    fn flow_mappings_and_block_nesting_count_too() {
        let flow = format!("a: {}1{}\n", "{a: ".repeat(200), "}".repeat(200));
        assert!(refusal(&flow, Reader::Own).starts_with("c.yaml:1:"));
        let mut block = String::new();
        for level in 0..200 {
            block.push_str(&format!("{}k:\n", "  ".repeat(level)));
        }
        block.push_str(&format!("{}v: 1\n", "  ".repeat(200)));
        let err = refusal(&block, Reader::Own);
        assert!(err.starts_with("c.yaml:129:"), "{err}");
        let mut block_lists = String::new();
        for level in 0..200 {
            block_lists.push_str(&format!("{}-\n", "  ".repeat(level)));
        }
        assert!(refusal(&block_lists, Reader::SafeLoad).contains("nested more than 128 deep"));
    }

    #[test]
    fn a_million_levels_are_refused_in_linear_time() {
        let depth = 1_000_000;
        let text = format!("extra: {}{}\n", "[".repeat(depth), "]".repeat(depth));
        let started = std::time::Instant::now();
        let err = refusal(&text, Reader::SafeLoad);
        assert!(err.contains("nested more than 128 deep"), "{err}");
        // Quadratic work would take minutes; the refusal takes milliseconds.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn aliases_count_with_the_depth_of_what_they_repeat_in_own_files() {
        let half = |d: usize| format!("{}{}", "[".repeat(d), "]".repeat(d));
        let text = format!(
            "a: &x {}\nb: {}*x{}\n",
            half(100),
            "[".repeat(100),
            "]".repeat(100)
        );
        let err = refusal(&text, Reader::Own);
        assert!(
            err.starts_with("c.yaml:2:") && err.contains("values repeated by this alias nested"),
            "{err}"
        );
        // PyYAML shares the aliased value: Townlet's own reader accepts it.
        passes(&text, Reader::SafeLoad);
    }

    #[test]
    fn an_alias_bomb_is_refused_in_own_files() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for level in 1..10 {
            let items = vec![format!("*a{}", level - 1); 10].join(", ");
            text.push_str(&format!("a{level}: &a{level} [{items}]\n"));
        }
        let err = refusal(&text, Reader::Own);
        assert!(
            err.contains("expand the document to more than 1000000 values"),
            "{err}"
        );
        assert!(err.starts_with("c.yaml:6:"), "{err}");
        passes(&text, Reader::SafeLoad);
    }

    #[test]
    fn tags_are_judged_by_the_reader_of_the_file() {
        let err = refusal("runtime_variant: !include other.yaml\n", Reader::Own);
        assert!(
            err.starts_with("c.yaml:1:27: unknown YAML tag `!include`\nhint: remove the tag"),
            "{err}"
        );
        assert!(refusal("a: !include x\n", Reader::SafeLoad).contains("`!include`"));
        assert!(
            refusal("a: !!python/object:os.system x\n", Reader::SafeLoad)
                .contains("`!!python/object:os.system`")
        );
        assert!(refusal("a: !!binary aGk=\n", Reader::Own).contains("`!!binary`"));
        assert!(refusal("a: ! x\n", Reader::Own).contains("unknown YAML tag `!`"));
        assert!(
            refusal(
                "%TAG !! tag:example.com,2000:\n---\na: !!str x\n",
                Reader::Own
            )
            .contains("`tag:example.com,2000:str`")
        );
        for core in [
            "!!str 1",
            "!!int '5'",
            "!!float 1",
            "!!bool 'true'",
            "!!seq [1]",
            "!<tag:yaml.org,2002:str> x",
        ] {
            passes(&format!("a: {core}\n"), Reader::Own);
        }
        for safe in [
            "! x",
            "!!binary aGk=",
            "!!set {x}",
            "!!timestamp 2001-01-01",
            "!!omap [x: 1]",
        ] {
            passes(&format!("a: {safe}\n"), Reader::SafeLoad);
        }
    }

    #[test]
    fn text_that_does_not_parse_is_left_to_the_deserialiser() {
        let screened = screen("a: [1, 2\n", Path::new("c.yaml"), Reader::Own);
        assert!(matches!(screened, Ok(Screened::Unread(_))), "{screened:?}");
    }
}
