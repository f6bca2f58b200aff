//! What the report records besides the steps: the checkout's git state and
//! the versions of the tools the steps use (probed in the background).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use plumbing::report::GitState;
use xshell::Shell;

use crate::plan::{Planned, Vars};

pub(crate) fn git_state(sh: &Shell, root: &Path) -> Option<GitState> {
    plumbing::git::Git::discover(sh, root)?.state().ok()
}

/// Versions of the tools the steps use, probed in the background.
pub(crate) struct Versions(mpsc::Receiver<(String, String)>, usize);

impl Versions {
    pub(crate) fn collect(self, wait: Duration) -> BTreeMap<String, String> {
        let until = Instant::now() + wait;
        let mut out = BTreeMap::new();
        while out.len() < self.1 {
            let left = until.saturating_duration_since(Instant::now());
            match self.0.recv_timeout(left) {
                Ok((k, v)) => {
                    out.insert(k, v);
                }
                Err(_) => break,
            }
        }
        out
    }
}

pub(crate) fn tool_versions(run: &[Planned], vars: &Vars) -> Versions {
    let python = vars.path("python").display().to_string();
    let mut probes: BTreeSet<(String, Vec<String>)> = BTreeSet::new();
    for p in run {
        let Some(program) = p.argv.first() else {
            continue;
        };
        if *program == python {
            probes.insert(("python".into(), vec![python.clone(), "--version".into()]));
            if p.argv.get(1).map(String::as_str) == Some("-m")
                && let Some(module) = p.argv.get(2)
            {
                probes.insert((
                    module.clone(),
                    vec![
                        python.clone(),
                        "-m".into(),
                        module.clone(),
                        "--version".into(),
                    ],
                ));
            }
        } else {
            let name = Path::new(program)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            probes.insert((name, vec![program.clone(), "--version".into()]));
        }
    }
    let (tx, rx) = mpsc::channel();
    let count = probes.len();
    let root = vars.path("root");
    std::thread::spawn(move || {
        for (name, argv) in probes {
            if let Some(line) = plumbing::process::probe(&root, &argv, Duration::from_secs(3)) {
                let _sent = tx.send((name, line));
            }
        }
    });
    Versions(rx, count)
}
