//! Which steps a run reports, with libtest's filter semantics (`FILTER`, `--exact`,
//! `--skip`), so the CLI and the `cargo test --test smoke` harness select alike.
//!
//! Names are `flow::step`. A flow runs when any of its steps is selected (earlier
//! steps set up later ones); only selected steps are reported.

use stageos_smoke_model::flowdef::FlowDef;

/// A libtest-style selection.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Substring (or exact name with `exact`).
    pub filter: Option<String>,
    /// Match whole names.
    pub exact: bool,
    /// Names or substrings to leave out.
    pub skip: Vec<String>,
    /// libtest `--ignored`: run only ignored tests (the suite has none).
    pub only_ignored: bool,
}

impl Selection {
    /// From libtest-mimic's parsed arguments.
    pub fn from_libtest(args: &libtest_mimic::Arguments) -> Self {
        Self {
            filter: args.filter.clone(),
            exact: args.exact,
            skip: args.skip.clone(),
            only_ignored: args.ignored,
        }
    }

    /// Whether `flow::step` is selected (mirrors `libtest_mimic::Arguments::is_filtered_out`).
    pub fn matches(&self, name: &str) -> bool {
        if self.only_ignored {
            return false;
        }
        if let Some(f) = &self.filter {
            let hit = if self.exact {
                name == f
            } else {
                name.contains(f.as_str())
            };
            if !hit {
                return false;
            }
        }
        !self.skip.iter().any(|s| {
            if self.exact {
                name == s
            } else {
                name.contains(s.as_str())
            }
        })
    }

    /// The selected `flow::step` names of some flows, in order.
    pub fn selected_names(&self, flows: &[&FlowDef]) -> Vec<String> {
        flows
            .iter()
            .flat_map(|f| f.step_names())
            .filter(|n| self.matches(n))
            .collect()
    }

    /// The flows with at least one selected step.
    pub fn selected_flows(&self, flows: &[&'static FlowDef]) -> Vec<&'static FlowDef> {
        flows
            .iter()
            .copied()
            .filter(|f| f.step_names().any(|n| self.matches(&n)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtest_semantics() {
        let s = Selection {
            filter: Some("auth::".into()),
            skip: vec!["owner".into()],
            ..Default::default()
        };
        assert!(s.matches("auth::login_with_password"));
        assert!(!s.matches("auth::owner_login_with_totp"));
        assert!(!s.matches("health::api_health_ok"));
        let e = Selection {
            filter: Some("auth::login".into()),
            exact: true,
            ..Default::default()
        };
        assert!(!e.matches("auth::login_with_password"));
        assert!(Selection::default().matches("anything"));
    }
}
