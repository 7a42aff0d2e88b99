//! The static catalogue: every flow, its steps, and the profiles that pick flows.
//!
//! Everything here is known without touching the network, which is what makes
//! `--list` offline and cheap: the harness and `stageos-smoke list` read only this.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

pub use stageos_smoke_model::flowdef::{FlowDef, StepDef};

/// Every flow the suite knows, in run/report order (the flows' registry, with
/// the definitions generated from data — whose step ids are built once and
/// leaked, so they are `'static` like the rest).
pub fn flows() -> &'static [&'static FlowDef] {
    static ALL: OnceLock<Vec<&'static FlowDef>> = OnceLock::new();
    ALL.get_or_init(|| crate::flows::REGISTRY.iter().map(|r| (r.def)()).collect())
}

/// Look up a flow.
pub fn flow(id: &str) -> Option<&'static FlowDef> {
    flows().iter().copied().find(|f| f.id == id)
}

/// A profile from `suites/profiles.toml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// What it is for.
    pub description: String,
    /// Flow ids it runs.
    pub flows: Vec<String>,
    /// Per-request latency budget for the flows' latency steps.
    #[serde(default = "default_latency_budget")]
    pub latency_budget_ms: u64,
    /// Requests in flight to the target at once, across the run (independent
    /// requests run side by side up to this bound).
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight_requests: usize,
    /// Thresholds of the verification gates (`[profiles.NAME.gates]`).
    #[serde(default)]
    pub gates: stageos_smoke_gates::Thresholds,
}

fn default_max_in_flight() -> usize {
    stageos_smoke_http::http::InFlight::DEFAULT
}

fn default_latency_budget() -> u64 {
    1000
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfilesFile {
    default: String,
    profiles: BTreeMap<String, Profile>,
}

const PROFILES_TOML: &str = include_str!("../../../suites/profiles.toml");

fn profiles_file() -> &'static ProfilesFile {
    static FILE: OnceLock<ProfilesFile> = OnceLock::new();
    FILE.get_or_init(|| {
        // The file is compiled in and checked by `profiles_are_consistent`; a broken
        // edit fails the project's own tests, so this cannot fail at a user's site.
        toml::from_str(PROFILES_TOML).expect("suites/profiles.toml is valid (checked by tests)")
    })
}

/// Name of the default profile.
pub fn default_profile() -> &'static str {
    &profiles_file().default
}

/// All profiles by name.
pub fn profiles() -> &'static BTreeMap<String, Profile> {
    &profiles_file().profiles
}

/// Look up a profile; the error lists the known names.
pub fn profile(name: &str) -> Result<&'static Profile, String> {
    profiles().get(name).ok_or_else(|| {
        let known: Vec<&str> = profiles().keys().map(String::as_str).collect();
        format!("unknown profile `{name}` (known: {})", known.join(", "))
    })
}

/// The flows a profile runs, in catalogue order.
pub fn profile_flows(profile: &Profile) -> Vec<&'static FlowDef> {
    flows()
        .iter()
        .copied()
        .filter(|f| profile.flows.iter().any(|p| p == f.id))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_has_valid_gate_thresholds() {
        for (name, p) in profiles() {
            p.gates
                .validate()
                .unwrap_or_else(|e| panic!("profile {name}: {e}"));
        }
        let canary = profile("canary").unwrap();
        assert!(
            canary.flows.iter().any(|f| f == "baseline"),
            "the canary judges CloudWatch baselines"
        );
    }

    #[test]
    fn profiles_are_consistent() {
        assert!(profiles().contains_key(default_profile()));
        for (name, p) in profiles() {
            assert!(!p.flows.is_empty(), "profile {name} runs no flow");
            for f in &p.flows {
                assert!(flow(f).is_some(), "profile {name} names unknown flow {f}");
            }
        }
    }

    #[test]
    fn step_ids_are_unique_per_flow() {
        for f in flows() {
            let mut ids: Vec<_> = f.steps.iter().map(|s| s.id).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), f.steps.len(), "duplicate step id in {}", f.id);
        }
    }
}
