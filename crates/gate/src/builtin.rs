//! Built-in steps backed by other crates of the workspace, called as
//! libraries: `tls-smoke` and `baseline-diff`.

use std::path::Path;

use anyhow::{Result, bail};
use rollout_config::Context;

use crate::plan::Planned;
use crate::report::StepStatus;

/// What a built-in step concluded.
pub(crate) struct BuiltinOutcome {
    pub status: StepStatus,
    pub summary: String,
    pub details: Vec<String>,
}

pub(crate) fn run(_ctx: &Context, p: &Planned, _log: &Path) -> Result<BuiltinOutcome> {
    bail!(
        "built-in step kind of '{}' is not available in this build",
        p.step.id
    )
}
