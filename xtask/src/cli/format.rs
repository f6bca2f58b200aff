//! The `--format` values of the command line: each command offers only the
//! formats it has (`rollout_core::Format` is what the libraries receive).

/// `--format` of a command whose result is for a person or a program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum TextFormat {
    #[default]
    Human,
    Json,
}

/// `--format` of a command whose result is a report of checks, which CI
/// tools also read as JUnit or Markdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum ReportFormat {
    #[default]
    Human,
    Json,
    Junit,
    Markdown,
}

impl From<TextFormat> for rollout_core::Format {
    fn from(f: TextFormat) -> Self {
        match f {
            TextFormat::Human => rollout_core::Format::Human,
            TextFormat::Json => rollout_core::Format::Json,
        }
    }
}

impl From<ReportFormat> for rollout_core::Format {
    fn from(f: ReportFormat) -> Self {
        match f {
            ReportFormat::Human => rollout_core::Format::Human,
            ReportFormat::Json => rollout_core::Format::Json,
            ReportFormat::Junit => rollout_core::Format::Junit,
            ReportFormat::Markdown => rollout_core::Format::Markdown,
        }
    }
}

/// `--format` of a command whose result is for a person or a program.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub(crate) struct TextOutput {
    /// How to print the result on stdout
    #[arg(
        help_heading = "Output",
        long,
        value_enum,
        default_value_t,
        value_name = "FORMAT"
    )]
    pub(crate) format: TextFormat,
}

/// `--format` of a command whose result is a report of checks.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub(crate) struct ReportOutput {
    /// How to print the result on stdout
    #[arg(
        help_heading = "Output",
        long,
        value_enum,
        default_value_t,
        value_name = "FORMAT"
    )]
    pub(crate) format: ReportFormat,
}
