//! What a flow is, as plain static data: its id, its steps (id and sentence), the
//! roles it logs in as. The catalogue, `--list`, the harness and every reporter
//! read this; none of it touches the network.

use crate::role::Role;

/// One check inside a flow.
#[derive(Debug)]
pub struct StepDef {
    /// snake_case id, unique in its flow; JUnit testcase name.
    pub id: &'static str,
    /// A sentence a person reads when the step is red.
    pub description: &'static str,
}

/// A flow: an ordered list of steps run in one session of work.
#[derive(Debug)]
pub struct FlowDef {
    /// Flow id; JUnit classname.
    pub id: &'static str,
    /// What the flow covers.
    pub description: &'static str,
    /// The roles it logs in as (their credentials are required up front).
    pub roles: &'static [Role],
    /// Whether it needs the Owner's TOTP seed.
    pub needs_owner_totp: bool,
    /// It watches the whole run rather than doing work of its own (the metrics
    /// flow: a scrape at the start, the rest once every other flow finished). It
    /// does not take a `--test-threads` slot, and its waiting is not on the
    /// critical path.
    pub observes_run: bool,
    /// Its steps, in order.
    pub steps: &'static [StepDef],
}

impl FlowDef {
    /// `flow::step` names of every step.
    pub fn step_names(&self) -> impl Iterator<Item = String> + '_ {
        self.steps
            .iter()
            .map(move |s| format!("{}::{}", self.id, s.id))
    }

    /// Look up a step by id.
    pub fn step(&self, id: &str) -> Option<&'static StepDef> {
        self.steps.iter().find(|s| s.id == id)
    }
}

/// How a flow names the step it runs or skips: its declaration (a `StepDef`
/// constant, the one place the id is written) or, for flows generated from data
/// (the RBAC matrix), the id itself.
pub trait StepRef {
    /// The step's id.
    fn step_id(&self) -> &'static str;
}

impl StepRef for &StepDef {
    fn step_id(&self) -> &'static str {
        self.id
    }
}

impl StepRef for &'static str {
    fn step_id(&self) -> &'static str {
        self
    }
}
