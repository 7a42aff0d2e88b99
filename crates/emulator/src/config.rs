//! Where the emulator lives and which interpreter builds it, from `STAGEOS_EMULATOR_*`
//! variables with defaults that need no setting on a developer machine.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The pinned packages (the same pins as `scripts/cw-emulator.sh`). Without cbor2
/// ministack's CBOR replies are empty, and aws-sdk-cloudwatch speaks Smithy RPC v2 CBOR.
pub const PINS: [&str; 2] = ["ministack==1.5.33", "cbor2==6.3.0"];

/// The services enabled: CloudWatch for the baseline gates and the canary, the rest
/// for the AWS-side release gates.
pub const SERVICES: [&str; 6] = ["cloudwatch", "ecr", "secretsmanager", "rds", "backup", "s3"];

/// Variable: the Python 3 interpreter that builds the venv (default `python3`).
pub const PYTHON_VAR: &str = "STAGEOS_EMULATOR_PYTHON";
/// Variable: the directory of the venv and the logs (default: see [`default_dir`]).
pub const DIR_VAR: &str = "STAGEOS_EMULATOR_DIR";
/// Variable: seconds to wait for the health check (default 60).
pub(crate) const TIMEOUT_VAR: &str = "STAGEOS_EMULATOR_TIMEOUT";

/// How to install and start the emulator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmulatorConfig {
    /// Holds `venv/` and one log per started emulator.
    pub dir: PathBuf,
    /// The interpreter that creates the venv.
    pub python: String,
    /// How long the emulator may take to answer its health check.
    pub health_timeout: Duration,
}

impl EmulatorConfig {
    /// From `STAGEOS_EMULATOR_PYTHON`, `STAGEOS_EMULATOR_DIR` and
    /// `STAGEOS_EMULATOR_TIMEOUT` as `get` returns them (empty = unset).
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Self {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        Self {
            dir: get(DIR_VAR).map(PathBuf::from).unwrap_or_else(default_dir),
            python: get(PYTHON_VAR).unwrap_or_else(|| "python3".to_owned()),
            health_timeout: Duration::from_secs(
                get(TIMEOUT_VAR)
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(60),
            ),
        }
    }

    /// From the process environment.
    pub fn from_process_env() -> Self {
        Self::from_env(|k| std::env::var(k).ok())
    }

    /// The venv directory.
    pub fn venv(&self) -> PathBuf {
        self.dir.join("venv")
    }

    /// The venv's interpreter.
    pub(crate) fn venv_python(&self) -> PathBuf {
        self.venv().join("bin").join("python")
    }
}

/// `cw-emulator/` in the cargo `target/` directory the running executable was
/// built in (the one with cargo's `CACHEDIR.TAG`; shared with
/// `scripts/cw-emulator.sh`, gone with `cargo clean`); for an installed binary,
/// `stageos-smoke/cw-emulator` in the user's cache directory.
pub fn default_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| cargo_target_dir(&exe))
        .map(|t| t.join("cw-emulator"))
        .unwrap_or_else(|| cache_dir().join("stageos-smoke").join("cw-emulator"))
}

fn cargo_target_dir(exe: &Path) -> Option<PathBuf> {
    exe.ancestors()
        .skip(1)
        .find(|d| d.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
}

fn cache_dir() -> PathBuf {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_override_the_defaults_and_empty_means_unset() {
        let c = EmulatorConfig::from_env(|k| match k {
            PYTHON_VAR => Some("/opt/py/bin/python3".into()),
            DIR_VAR => Some("/tmp/emu".into()),
            TIMEOUT_VAR => Some("5".into()),
            _ => None,
        });
        assert_eq!(c.python, "/opt/py/bin/python3");
        assert_eq!(c.venv(), PathBuf::from("/tmp/emu/venv"));
        assert_eq!(c.health_timeout, Duration::from_secs(5));
        let d = EmulatorConfig::from_env(|k| (k == PYTHON_VAR).then(String::new));
        assert_eq!(d.python, "python3");
        assert_eq!(d.health_timeout, Duration::from_secs(60));
    }

    #[test]
    fn the_target_dir_is_the_ancestor_with_cargos_tag() {
        let root = std::env::temp_dir().join(format!("emu-cfg-{}", std::process::id()));
        let deps = root.join("target/debug/deps");
        std::fs::create_dir_all(&deps).unwrap();
        std::fs::write(
            root.join("target/CACHEDIR.TAG"),
            "Signature: 8a477f597d28d172789f06886806bc55",
        )
        .unwrap();
        assert_eq!(
            cargo_target_dir(&deps.join("gates-0123")),
            Some(root.join("target"))
        );
        assert_eq!(cargo_target_dir(&root.join("elsewhere/bin/x")), None);
        std::fs::remove_dir_all(root).unwrap();
    }
}
