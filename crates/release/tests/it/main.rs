//! Integration tests of `tag` and `signoff` against real git: temp repos, a
//! local bare remote, shallow clones.

mod checks;
mod hostile;
mod naming;
mod push;
mod rollback;
mod signoff;
mod snapshots;
mod support;
