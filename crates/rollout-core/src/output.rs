//! What every command shares about output: the format, the decision whether
//! to use colour, the styling of status words, and making text from data
//! safe for a terminal.

use std::io::IsTerminal;

use serde::Serialize;

/// Environment variable that disables colour when set (<https://no-color.org>).
pub const ENV_NO_COLOR: &str = "NO_COLOR";
/// Set by CI systems; no colour or progress animation there.
pub const ENV_CI: &str = "CI";
/// Forces colour when set to anything but `0` (<https://bixense.com/clicolors/>).
pub const ENV_CLICOLOR_FORCE: &str = "CLICOLOR_FORCE";

/// How a command prints its result on stdout. Each command accepts only
/// the formats it has (the command line offers no others).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Short lines for a person.
    #[default]
    Human,
    /// One JSON document with stable, documented fields.
    Json,
    /// JUnit XML (commands that produce test-like results).
    Junit,
    /// Markdown (commands that produce reports).
    Markdown,
}

/// `-q`/`-v`: how much goes to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Verbosity {
    Quiet,
    #[default]
    Normal,
    Verbose,
}

/// `--color`: when to colour output (the clap/anstream convention).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorChoice {
    /// On a terminal that supports it, unless `NO_COLOR` is set or in CI;
    /// `CLICOLOR_FORCE` forces it.
    #[default]
    Auto,
    Always,
    Never,
}

static COLOR_CHOICE: std::sync::OnceLock<ColorChoice> = std::sync::OnceLock::new();

/// Sets the process's colour choice (from `--color`), once, before output.
pub fn set_color_choice(choice: ColorChoice) {
    let _already = COLOR_CHOICE.set(choice);
}

/// Whether to colour a stream: `--color always|never` decides; else
/// `CLICOLOR_FORCE` forces colour, `NO_COLOR` and CI forbid it, and
/// otherwise only a terminal that is not `TERM=dumb` gets it.
pub fn use_color(stream: &impl IsTerminal) -> bool {
    match COLOR_CHOICE.get().copied().unwrap_or_default() {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto if clicolor_force() => true,
        ColorChoice::Auto if anstyle_query::no_color() || in_ci() => false,
        ColorChoice::Auto => stream.is_terminal() && anstyle_query::term_supports_color(),
    }
}

/// Whether a stream may be redrawn in place (cursor movement for a live
/// board): a terminal that is not `TERM=dumb`, outside CI. Colour settings
/// do not make a dumb terminal or a pipe take cursor movement.
pub fn can_redraw(stream: &impl IsTerminal) -> bool {
    stream.is_terminal() && anstyle_query::term_supports_color() && !in_ci()
}

/// `CLICOLOR_FORCE` set and not `0`: the convention says `0` does not
/// force (anstyle-query counts any non-empty value).
fn clicolor_force() -> bool {
    std::env::var_os(ENV_CLICOLOR_FORCE).is_some_and(|v| !v.is_empty() && v != "0")
}

fn in_ci() -> bool {
    std::env::var_os(ENV_CI).is_some_and(|v| !v.is_empty())
}

/// Styling for status words (`pass`, `warn`, `FAIL`, `skip`).
#[derive(Debug, Clone, Copy)]
pub struct Style {
    color: bool,
}

impl Style {
    pub fn new(color: bool) -> Self {
        Self { color }
    }

    /// Stdout's styling.
    pub fn stdout() -> Self {
        Self::new(use_color(&std::io::stdout()))
    }

    /// Stderr's styling.
    pub fn stderr() -> Self {
        Self::new(use_color(&std::io::stderr()))
    }

    fn paint(&self, style: anstyle::Style, text: &str) -> String {
        if self.color {
            format!("{style}{text}{style:#}")
        } else {
            text.to_string()
        }
    }

    pub fn pass(&self) -> String {
        self.paint(fg(anstyle::AnsiColor::Green), "pass")
    }
    pub fn warn(&self) -> String {
        self.paint(fg(anstyle::AnsiColor::Yellow), "warn")
    }
    pub fn fail(&self) -> String {
        self.paint(fg(anstyle::AnsiColor::Red).bold(), "FAIL")
    }
    pub fn skip(&self) -> String {
        self.paint(anstyle::Style::new().dimmed(), "skip")
    }
    pub fn bold(&self, text: &str) -> String {
        self.paint(anstyle::Style::new().bold(), text)
    }
}

fn fg(color: anstyle::AnsiColor) -> anstyle::Style {
    anstyle::Style::new().fg_color(Some(color.into()))
}

/// A JUnit document as quick-junit writes it, made valid under the junit-10
/// schema (Jenkins, and the test reporters that follow it): quick-junit
/// writes `skipped` on `<testsuites>` too, which junit-10 does not allow
/// there; it stays on `<testsuite>`, where it is allowed. Every command's
/// JUnit goes through here.
pub fn junit10(xml: &str) -> String {
    let Some(start) = xml.find("<testsuites") else {
        return xml.to_string();
    };
    let end = xml[start..].find('>').map_or(xml.len(), |i| start + i);
    let tag = &xml[start..end];
    let Some(at) = tag.find(" skipped=\"") else {
        return xml.to_string();
    };
    let value_end = tag[at + 10..]
        .find('"')
        .map_or(tag.len(), |i| at + 10 + i + 1);
    format!("{}{}{}", &xml[..start + at], &tag[value_end..], &xml[end..])
}

/// A command's result that can be printed in the formats it supports.
pub trait Report: Serialize {
    /// Short lines for a person.
    fn human(&self, style: &Style, out: &mut dyn std::io::Write) -> anyhow::Result<()>;

    /// JUnit XML, for commands whose format enum offers it.
    fn junit(&self) -> anyhow::Result<String> {
        anyhow::bail!("this report has no JUnit form")
    }

    /// Markdown, for commands whose format enum offers it.
    fn markdown(&self) -> anyhow::Result<String> {
        anyhow::bail!("this report has no Markdown form")
    }
}

/// Prints `report` on `out` in `format`: the one way every command writes
/// its result (JSON is the report's serialisation, pretty, with a newline).
pub fn emit<R: Report>(
    report: &R,
    format: Format,
    style: &Style,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<()> {
    match format {
        Format::Human => report.human(style, out)?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, report)?;
            writeln!(out)?;
        }
        Format::Junit => write!(out, "{}", report.junit()?)?,
        Format::Markdown => write!(out, "{}", report.markdown()?)?,
    }
    Ok(())
}

/// Text that came from data (a value, a file name, a commit subject, a
/// child's output, an error message quoting any of them) made safe for a
/// terminal: every control character but the tab is shown escaped instead
/// of acting, so that no escape sequence, carriage return or line break from
/// data can recolour, move, retitle or forge lines on the user's screen.
/// C0 controls and DEL become `\x1b`-style escapes (`\n` and `\r` their
/// usual ones), C1 controls and the bidirectional overrides that reorder
/// what a line appears to say become `\u{9b}`-style escapes, and a
/// backslash that would start one of these is left as it is (the escapes
/// are for reading, not for decoding back). Text with none of them is
/// returned as it is, without copying.
///
/// Every human renderer and error message passes data through here; JSON
/// output stays exact. Multi-line text is escaped line by line with
/// [`printable_lines`], so that its own line breaks still break lines.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_printable(&mut out, c);
    }
    std::borrow::Cow::Owned(out)
}

/// [`printable`] for text whose own line breaks are meant (a log tail, an
/// error message with its `hint:` line): each `\n` stays a line break, and
/// everything else is escaped as [`printable`] does (a `\r` included, so a
/// CRLF line shows its `\r`).
pub fn printable_lines(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c != '\n' && needs_escape(c)) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c == '\n' {
            out.push('\n');
        } else {
            push_printable(&mut out, c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A message for a person (an error, a usage error): [`printable_lines`],
/// each line cut to [`MESSAGE_LINE_CHARS`] with a note of how much was
/// cut, so that a 100 KB value quoted back stays readable.
pub fn printable_message(text: &str) -> String {
    text.split('\n')
        .map(|line| printable(&cut_line(line, MESSAGE_LINE_CHARS)).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The widest line of a message, in characters.
pub const MESSAGE_LINE_CHARS: usize = 2000;

/// [`printable`] of [`cut_line`]: one line of a child's output, which may
/// be megabytes without a newline, made safe and short for a terminal.
pub fn printable_capped(text: &str, max_chars: usize) -> std::borrow::Cow<'_, str> {
    match cut_line(text, max_chars) {
        std::borrow::Cow::Borrowed(kept) => printable(kept),
        std::borrow::Cow::Owned(cut) => std::borrow::Cow::Owned(printable(&cut).into_owned()),
    }
}

/// `text` cut to at most `max_chars` characters, with a note of how much
/// was cut (` … [1.0 MiB more on this line]`); as it is when shorter.
pub fn cut_line(text: &str, max_chars: usize) -> std::borrow::Cow<'_, str> {
    let Some((cut_at, _)) = text.char_indices().nth(max_chars) else {
        return std::borrow::Cow::Borrowed(text);
    };
    let (kept, rest) = text.split_at(cut_at);
    std::borrow::Cow::Owned(format!(
        "{kept} … [{} more on this line]",
        human_bytes(rest.len() as u64)
    ))
}

/// A byte count for a person: `512 B`, `4.0 KiB`, `1.1 MiB`, `3.0 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\t') || is_bidi_control(c)
}

/// The characters that reorder how a line is displayed (CVE-2021-42574,
/// "Trojan Source"): embeddings, overrides, isolates and their pops.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn push_printable(out: &mut String, c: char) {
    use std::fmt::Write as _;
    if !needs_escape(c) {
        out.push(c);
        return;
    }
    let _infallible = match c {
        '\n' => write!(out, "\\n"),
        '\r' => write!(out, "\\r"),
        c if (c as u32) < 0x80 => write!(out, "\\x{:02x}", c as u32),
        c => write!(out, "\\u{{{:x}}}", c as u32),
    };
}

/// The JSON Schema of a document of type `T` as the commands print it (in
/// serialisation terms: a field skipped when empty is optional, an `Option`
/// printed as `null` is required), as checked in under `docs/schemas/`.
pub fn json_schema<T: schemars::JsonSchema>() -> schemars::Schema {
    schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<T>()
}

#[cfg(test)]
mod printable_tests {
    use super::*;

    #[test]
    fn control_bytes_from_data_are_shown_not_acted_on() {
        assert_eq!(printable("facade"), "facade");
        assert!(matches!(printable("facade"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(printable("a\u{1b}[31mred"), "a\\x1b[31mred");
        assert_eq!(printable("x\ny\rz\u{7f}"), "x\\ny\\rz\\x7f");
        assert_eq!(printable("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(printable("ab\u{202e}cd"), "ab\\u{202e}cd");
        assert_eq!(printable("tab\tstays"), "tab\tstays");
        assert_eq!(printable("\u{0}\u{7}"), "\\x00\\x07");
    }

    #[test]
    fn lines_keep_their_breaks_and_lose_their_escapes() {
        assert_eq!(
            printable_lines("error: \u{1b}]0;title\u{7}\nhint: x\r\n"),
            "error: \\x1b]0;title\\x07\nhint: x\\r\n"
        );
    }

    #[test]
    fn a_message_keeps_its_lines_and_cuts_each() {
        let long = "v".repeat(100_000);
        let shown = printable_message(&format!("error: `{long}\u{1b}`\nhint: x"));
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0].chars().count() < MESSAGE_LINE_CHARS + 40,
            "{}",
            lines[0].len()
        );
        assert!(
            lines[0].ends_with("more on this line]"),
            "{}",
            &lines[0][1990..]
        );
        assert_eq!(lines[1], "hint: x");
    }

    #[test]
    fn a_long_line_is_cut_with_a_note() {
        let line = "x".repeat(5000);
        let shown = printable_capped(&line, 100);
        assert!(shown.starts_with(&"x".repeat(100)));
        assert!(shown.ends_with(" … [4.8 KiB more on this line]"), "{shown}");
        assert_eq!(printable_capped("é\u{1b}", 10), "é\\x1b");
        assert_eq!(human_bytes(20 * 1024 * 1024), "20.0 MiB");
    }
}
