//! The checks of stageos-smoke and the runner that runs them.
//!
//! - [`flows`]: every flow (one module each) and the registry.
//! - [`flow`]: running one flow's steps: deadlines, panics, cleanups, events.
//! - [`catalogue`]: the flows and profiles known offline (`--list`).
//! - [`config`]: the TOML file, `STAGEOS_*` variables and overrides → [`config::Settings`].
//! - [`selection`]: which steps a filter selects.
//! - [`target`]: the target a run goes to (the embedded reference or a URL).
//! - [`runner`]: the one runner behind the CLI, the harness and the canary.
//! - [`sweep`]: the `sweep` command.
//! - [`interrupt`]: Ctrl-C / SIGTERM, so cleanups still run.

pub mod catalogue;
pub mod config;
pub mod embedded_cloud;
pub mod flow;
pub mod flows;
pub mod interrupt;
pub mod runner;
pub mod selection;
pub mod sweep;
pub mod target;
