//! Every command's `--help` reads like a manual page: each option names its
//! `STAGEOS_*` variable (or is one of the few that describe a single invocation),
//! and the long help ends with the command's exit codes.

use clap::CommandFactory;
use stageos_smoke::cli::Cli;

/// Options without a variable, on purpose: they describe one invocation (or, for
/// --fault and --variation, have a comma-separated list variable of their own, named
/// in the help).
const NO_VARIABLE: &[&str] = &[
    "help",
    "version",
    "filter",
    "exact",
    "skip",
    "faults",
    "variations",
];

#[test]
fn every_option_has_a_variable_and_every_command_its_exit_codes() {
    let mut root = Cli::command();
    root.build();
    let mut commands = vec![root.clone()];
    commands.extend(
        root.get_subcommands()
            .filter(|c| c.get_name() != "help")
            .cloned(),
    );
    assert!(
        commands.iter().any(|c| c.get_name() == "doctor"),
        "doctor is a command"
    );
    for mut cmd in commands {
        let name = cmd.get_name().to_owned();
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if NO_VARIABLE.contains(&id) {
                continue;
            }
            let env = arg
                .get_env()
                .and_then(|e| e.to_str())
                .unwrap_or_else(|| panic!("{name}: --{id} has no variable"));
            assert!(
                env.starts_with("STAGEOS_"),
                "{name}: --{id} uses {env}, not a STAGEOS_* variable"
            );
            assert!(arg.get_help().is_some(), "{name}: --{id} has no help");
        }
        let long = cmd.render_long_help().to_string();
        assert!(
            long.contains("EXIT CODES"),
            "{name} --help lists no exit codes:\n{long}"
        );
        let short = cmd.render_help().to_string();
        assert!(
            short.contains("Exit codes:"),
            "{name} -h does not point to the exit codes:\n{short}"
        );
    }
}
