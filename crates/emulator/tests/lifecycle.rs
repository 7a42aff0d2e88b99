//! The emulator's life cycle against the real pinned ministack: it answers on
//! loopback, a drop stops it, and a parent killed with SIGKILL (no destructor runs)
//! leaves no orphan behind.
//!
//! Needs `python3` and, the first time, the Python package index; set
//! `STAGEOS_TEST_SKIP_EMULATOR=1` to skip these tests where neither is available.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Trial};
use stageos_smoke_emulator::{EmulatorConfig, start};

/// Set in the child process `a_killed_parent_leaves_no_orphan` starts and kills.
const CHILD_VAR: &str = "STAGEOS_EMULATOR_TEST_CHILD";

/// The child: hold an emulator, say its pid, wait to be killed.
fn hold_an_emulator_until_killed() -> ! {
    let emulator = start(&EmulatorConfig::from_process_env()).unwrap_or_else(|e| panic!("{e}"));
    println!("emulator-pid {}", emulator.pid());
    std::thread::sleep(Duration::from_secs(120));
    std::process::exit(2)
}

fn main() -> std::process::ExitCode {
    if std::env::var_os(CHILD_VAR).is_some() {
        hold_an_emulator_until_killed();
    }
    let args = Arguments::from_args();
    let test = |name: &'static str, f: fn()| {
        Trial::test(name, move || {
            f();
            Ok(())
        })
    };
    let trials = vec![
        test(
            "answers_on_loopback_and_stops_when_dropped",
            answers_on_loopback_and_stops_when_dropped,
        ),
        test(
            "a_killed_parent_leaves_no_orphan",
            a_killed_parent_leaves_no_orphan,
        ),
    ];
    libtest_mimic::run(&args, trials).exit_code()
}

fn skip() -> bool {
    let skip = std::env::var("STAGEOS_TEST_SKIP_EMULATOR").is_ok_and(|v| v == "1");
    if skip {
        eprintln!("SKIPPED (emulator): STAGEOS_TEST_SKIP_EMULATOR=1");
    }
    skip
}

fn alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; its state is `Z`.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

fn gone_within(pid: u32, limit: Duration) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    !alive(pid)
}

fn answers_on_loopback_and_stops_when_dropped() {
    if skip() {
        return;
    }
    let emulator = start(&EmulatorConfig::from_process_env()).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        emulator.endpoint().starts_with("http://127.0.0.1:"),
        "{}",
        emulator.endpoint()
    );
    let pid = emulator.pid();
    assert!(alive(pid));
    drop(emulator);
    assert!(
        gone_within(pid, Duration::from_secs(5)),
        "ministack {pid} survived the drop"
    );
}

fn a_killed_parent_leaves_no_orphan() {
    if skip() {
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_VAR, "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let pid: u32 = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("emulator-pid ")
                .and_then(|p| p.trim().parse().ok())
        })
        .expect("the child reports its emulator's pid");
    assert!(alive(pid));
    child.kill().unwrap(); // SIGKILL: no destructor runs in the child
    child.wait().unwrap();
    assert!(
        gone_within(pid, Duration::from_secs(5)),
        "ministack {pid} outlived its killed parent"
    );
}
