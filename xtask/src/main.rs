//! `cargo xtask`: the rollout tooling's command line. Parses arguments, calls
//! the crate that owns each command, and maps the outcome to an exit code:
//! 0 pass, 1 a check found a problem, 2 could not run. No business logic here.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use rollout_config::{Context, Overrides, Settings};
use rollout_core::{Format, Outcome, Verbosity, Verdict};

/// baseline-diff parses telemetry on reader threads and frees it on others;
/// mimalloc handles that without the arena-lock contention of glibc malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `--version`: the crate's version and the commit it was built from
/// (`build.rs`), as cargo prints its own.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("XTASK_COMMIT"),
    " ",
    env!("XTASK_COMMIT_DATE"),
    ")"
);

/// The program name completion scripts complete: the binary `cargo xtask`
/// runs (an alias in `.cargo/config.toml`, which cargo's own completion
/// does not reach into).
const COMPLETED_NAME: &str = "xtask";

/// Rollout tooling for Townlet's M4 release.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", display_name = "xtask", version = VERSION)]
#[command(styles = clap::builder::Styles::plain())]
#[command(after_help = "Example:\n  cargo xtask gate --root ../townlet")]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every command accepts, before or after its name.
#[derive(Debug, Args)]
struct Global {
    /// The rollout definition [default: configs/rollout.yaml in this workspace]
    #[arg(
        help_heading = "Global options",
        long,
        global = true,
        value_name = "PATH"
    )]
    config: Option<PathBuf>,
    /// The Townlet checkout [env: TOWNLET_ROOT] [default: target.root, else this workspace or checkout when it is Townlet, else the sample in this repository]
    #[arg(
        help_heading = "Global options",
        long,
        global = true,
        value_name = "PATH"
    )]
    root: Option<PathBuf>,
    /// Print only the result
    #[arg(
        help_heading = "Output",
        short,
        long,
        global = true,
        conflicts_with = "verbose"
    )]
    quiet: bool,
    /// Print progress details on stderr
    #[arg(help_heading = "Output", short, long, global = true)]
    verbose: bool,
    /// When to colour output [default: auto: a terminal that is not TERM=dumb, unless NO_COLOR or CI; CLICOLOR_FORCE forces it]
    #[arg(
        help_heading = "Output",
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        default_value_t,
        hide_default_value = true
    )]
    color: ColorArg,
}

/// `--color`: when to colour output (the clap/anstream convention).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
enum ColorArg {
    /// On a terminal that supports it, unless `NO_COLOR` is set or in CI;
    /// `CLICOLOR_FORCE` forces it.
    #[default]
    Auto,
    Always,
    Never,
}

impl From<ColorArg> for rollout_core::output::ColorChoice {
    fn from(c: ColorArg) -> Self {
        match c {
            ColorArg::Auto => Self::Auto,
            ColorArg::Always => Self::Always,
            ColorArg::Never => Self::Never,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the M4 validation gate (pytest, ruff, mypy debt, TLS smoke, baselines, UI smoke)
    Gate(cli::gate::Args),
    /// Validate the rollout config and a Townlet config; print the resolved settings
    #[command(after_help = "Example:\n  cargo xtask config --root ../townlet --format json")]
    Config(cli::config::Args),
    /// Record a team's sign-off on a commit, or list sign-offs with --status
    Signoff(cli::signoff::Args),
    /// Plan the release tag and its checks; --execute creates it, --push pushes it
    Tag(cli::tag::Args),
    /// Prove TLS negotiation and certificate loading of Townlet's TCP telemetry
    #[command(name = "tls-smoke")]
    TlsSmoke(Box<cli::tls_smoke::Args>),
    /// Alert on tick-health logs and telemetry: runtime_variant, drops, exit queue, plaintext, gaps
    Monitor(cli::monitor::Args),
    /// Compare a telemetry capture and observation tensors with the Phase 3 baselines
    BaselineDiff(cli::baseline_diff::Args),
    /// Write this tooling into a Townlet checkout: workspace, config, .gitignore entries, CI workflow
    #[command(after_help = "Example:\n  cargo xtask adopt ../townlet")]
    Adopt(cli::adopt::Args),
    /// Print a shell completion script for this command line on stdout
    #[command(
        after_help = "Example:\n  cargo xtask completions bash > ~/.local/share/bash-completion/completions/xtask"
    )]
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
struct CompletionsArgs {
    /// The shell to complete in
    #[arg(value_enum, value_name = "SHELL")]
    shell: CompletionShell,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

impl Command {
    /// The format the command was asked for: each command accepts only its
    /// own (`--format junit` is a usage error for `tag`).
    fn format(&self) -> Format {
        match self {
            Command::Gate(a) => a.printed.format.into(),
            Command::Config(a) => a.printed.format.into(),
            Command::Signoff(a) => a.printed.format.into(),
            Command::Tag(a) => a.printed.format.into(),
            Command::TlsSmoke(a) => a.format.into(),
            Command::Monitor(a) => a.check.printed.format.into(),
            Command::BaselineDiff(a) => a.printed.format.into(),
            Command::Adopt(a) => a.printed.format.into(),
            Command::Completions(_) => Format::Human,
        }
    }
}

fn main() -> ExitCode {
    // This binary is also the guardian that stops the steps of a command
    // that was killed (see `plumbing::process::set_guardian`): the hidden
    // first argument is checked before clap sees anything.
    if std::env::args_os().nth(1).as_deref() == Some(plumbing::process::GUARDIAN_ARG.as_ref()) {
        return plumbing::process::guardian_main();
    }
    match std::env::current_exe() {
        Ok(exe) => {
            let _set =
                plumbing::process::set_guardian(exe, vec![plumbing::process::GUARDIAN_ARG.into()]);
        }
        Err(err) => eprintln!(
            "warning: cannot find this program's own path ({err}): a `kill -9` of it may leave what its children started running"
        ),
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    match run(cli) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(err) => {
            // Errors quote values from files, git and the command line.
            let message = format!("{err:#}");
            eprintln!("error: {}", rollout_core::printable_message(&message));
            ExitCode::from(Verdict::Error.exit_code())
        }
    }
}

/// What clap says about the command line, with the values it quotes
/// escaped: `--help` and `--version` on stdout (exit 0), a usage error on
/// stderr (exit 2). The CLI has no styles (`Styles::plain`), so the only
/// escape sequences in the rendered error are the values', kept
/// (`ansi()`) to be escaped: its plain text drops every sequence, those of
/// the values too (`--format $'\e[31m'` read `invalid value ''`).
fn usage_error(err: clap::Error) -> ExitCode {
    if !err.use_stderr() {
        let _printed = err.print();
        return ExitCode::SUCCESS;
    }
    let text = err.render().ansi().to_string();
    let shown = rollout_core::printable_message(&text);
    eprint!("{shown}");
    ExitCode::from(Verdict::Error.exit_code())
}

/// Resolves the context, then each command's settings once, and calls the
/// command's crate: `run(ctx, settings) -> Outcome` for every command.
fn run(cli: Cli) -> anyhow::Result<Outcome> {
    rollout_core::output::set_color_choice(cli.global.color.into());
    let format = cli.command.format();
    // `completions` reads no config: it runs without a context.
    let command = match cli.command {
        Command::Completions(a) => return print_completions(a.shell),
        command => command,
    };
    let ctx = context(&cli.global, format)?;
    match command {
        Command::Gate(a) => gate::run(&ctx, a.settings(&ctx)?),
        Command::Config(a) => rollout_config::show::run(&ctx, a.settings(&ctx)?),
        Command::Signoff(a) => release::signoff::run(&ctx, a.settings(&ctx)?),
        Command::Tag(a) => release::tag::run(&ctx, a.settings(&ctx)?),
        Command::TlsSmoke(a) => cli::tls_smoke::run(&ctx, a.settings(&ctx)?),
        Command::Monitor(a) => cli::monitor::run(&ctx, a.settings(&ctx)?),
        Command::BaselineDiff(a) => baseline_diff::run(&ctx, a.settings(&ctx)?),
        Command::Adopt(a) => adopt::run(&ctx, a.settings()?),
        Command::Completions(a) => print_completions(a.shell),
    }
}

/// `completions`: the script clap_complete generates for `shell`, on stdout.
fn print_completions(shell: CompletionShell) -> anyhow::Result<Outcome> {
    use clap::CommandFactory;
    use std::io::Write as _;
    let shell = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, COMPLETED_NAME, &mut script);
    anyhow::Context::context(
        std::io::stdout().lock().write_all(&script),
        "cannot write the completion script",
    )?;
    Ok(Outcome::new(Verdict::Pass, "printed the completion script"))
}

fn context(g: &Global, format: Format) -> anyhow::Result<Context> {
    let cwd = std::env::current_dir()?;
    let (workspace, found) =
        rollout_config::resolve::find_workspace(env!("CARGO_MANIFEST_DIR").as_ref(), &cwd)?;
    if g.verbose {
        eprintln!("xtask: workspace `{}`: {found}", workspace.display());
    }
    let overrides = Overrides {
        config: g.config.clone(),
        root: g.root.clone(),
    };
    let settings = Settings::resolve_from(&workspace, found, &cwd, &overrides, &|k| {
        std::env::var(k).ok()
    })?;
    if g.verbose {
        eprintln!(
            "xtask: Townlet root `{}`: {}",
            settings.root.value.display(),
            settings.root.source
        );
    }
    Ok(Context {
        out: rollout_core::Out::stdout(),
        settings,
        format,
        verbosity: match (g.quiet, g.verbose) {
            (true, _) => Verbosity::Quiet,
            (_, true) => Verbosity::Verbose,
            _ => Verbosity::Normal,
        },
    })
}

mod cli;

#[cfg(test)]
mod tidy;

#[cfg(test)]
mod schemas;

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn verify_cli() {
        super::Cli::command().debug_assert();
    }

    /// Every command's `--help` ends with one example, on one line that
    /// pastes as it is.
    #[test]
    fn every_command_has_one_example_on_one_line() {
        fn check(command: &mut clap::Command, path: &str, bad: &mut Vec<String>) {
            let path = format!("{path} {}", command.get_name());
            let help = command.render_long_help().to_string();
            let example = help.split_once("\nExample:\n").map(|(_, rest)| rest);
            let lines: Vec<&str> = example
                .map(|text| {
                    text.lines()
                        .filter(|line| !line.trim().is_empty())
                        .collect()
                })
                .unwrap_or_default();
            let pasteable = lines.len() == 1
                && lines[0].starts_with("  cargo xtask ")
                && !lines[0].ends_with('\\');
            if !pasteable && !path.contains(" help") {
                bad.push(format!("{path}: {lines:?}"));
            }
            for sub in command.get_subcommands_mut() {
                check(sub, &path, bad);
            }
        }
        let mut bad = Vec::new();
        // Wrapped at the widest clap wraps at: an example must fit it.
        let mut cli = super::Cli::command().term_width(100);
        cli.build();
        for sub in cli.get_subcommands_mut() {
            check(sub, "cargo xtask", &mut bad);
        }
        assert!(bad.is_empty(), "{bad:#?}");
    }
}
