//! The pipeline examples in docs/examples/ stay working: each YAML loads, carries
//! the keys its platform needs (reports uploaded, JUnit published, a red run fails
//! the job, secrets from the secret store), and every `stageos-smoke …` command
//! line it runs — including the Dockerfile's ENTRYPOINT + CMD and the CronJob's
//! args on that ENTRYPOINT — is accepted by the CLI's own clap parser.

use std::path::PathBuf;

use clap::Parser;
use serde_norway::Value;
use stageos_smoke::cli::{Cli, Command};

fn example(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("docs/examples")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(name: &str) -> Value {
    serde_norway::from_str(&example(name))
        .unwrap_or_else(|e| panic!("{name} is not valid YAML: {e}"))
}

/// `v[a][b]…`, panicking with the path when a key is missing.
fn at<'a>(v: &'a Value, path: &[&str]) -> &'a Value {
    let mut cur = v;
    for (i, k) in path.iter().enumerate() {
        cur = match k.parse::<usize>() {
            Ok(n) => cur.get(n),
            Err(_) => cur.get(*k),
        }
        .unwrap_or_else(|| panic!("missing key {}", path[..=i].join(".")));
    }
    cur
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    at(v, path)
        .as_str()
        .unwrap_or_else(|| panic!("{} is not a string", path.join(".")))
}

/// Split one shell command line into words (plain words, '…' and "…").
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    assert!(quote.is_none(), "unbalanced quote in `{line}`");
    if in_word {
        words.push(cur);
    }
    words
}

/// The `stageos-smoke …` invocations of a shell script: lines whose program (the
/// first word) is the binary, up to a shell operator.
fn invocations(script: &str) -> Vec<Vec<String>> {
    script
        .lines()
        .map(shell_words)
        .filter(|w| {
            w.first()
                .is_some_and(|p| p.rsplit('/').next() == Some("stageos-smoke"))
        })
        .map(|w| {
            w.into_iter()
                .take_while(|t| {
                    !matches!(t.as_str(), ";" | "&&" | "||" | "|") && !t.starts_with('>')
                })
                .collect()
        })
        .collect()
}

fn parse(argv: &[String]) -> Cli {
    assert!(
        !argv.iter().any(|a| a.contains('$')),
        "keep shell variables out of example command lines (they go in the environment): {argv:?}"
    );
    Cli::try_parse_from(argv)
        .unwrap_or_else(|e| panic!("the CLI refuses `{}`:\n{e}", argv.join(" ")))
}

fn json_array(dockerfile: &str, instruction: &str) -> Vec<String> {
    let line = dockerfile
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with(&format!("{instruction} ")))
        .unwrap_or_else(|| panic!("no {instruction} in the Dockerfile"));
    let json = line.trim_start()[instruction.len()..].trim();
    serde_json::from_str(json)
        .unwrap_or_else(|e| panic!("{instruction} must be in exec (JSON array) form: {e}"))
}

fn entrypoint() -> Vec<String> {
    let ep = json_array(&example("Dockerfile"), "ENTRYPOINT");
    assert!(ep[0].ends_with("/stageos-smoke"), "{ep:?}");
    ep
}

#[test]
fn shell_word_splitting() {
    assert_eq!(shell_words(r#"a 'b c'  "d e" f"#), ["a", "b c", "d e", "f"]);
    assert_eq!(
        invocations("set +e\n./target/release/stageos-smoke run --x y\ncode=$?"),
        [vec!["./target/release/stageos-smoke", "run", "--x", "y"]]
    );
    assert!(
        invocations("cargo build --bin stageos-smoke").is_empty(),
        "an argument is not an invocation"
    );
}

#[test]
fn github_actions_post_deploy_job() {
    let wf = yaml("github-actions-post-deploy.yml");
    // `on` stays a string key (YAML 1.2), and the job runs after a deployment.
    assert!(at(&wf, &["on"]).get("deployment_status").is_some());
    assert_eq!(
        s(&wf, &["permissions", "checks"]),
        "write",
        "publishing JUnit as a check needs checks: write"
    );
    let job = at(&wf, &["jobs", "smoke"]);
    assert!(at(job, &["runs-on"]).as_str().is_some());
    assert!(
        at(job, &["environment"])
            .as_str()
            .is_some_and(|e| !e.is_empty())
    );

    // Secrets come from the secret store, never literals.
    let env = at(job, &["env"]).as_mapping().expect("env mapping");
    for (k, v) in env {
        let k = k.as_str().expect("string key");
        if k.ends_with("_PASSWORD") || k.ends_with("_TOTP_SECRET") {
            assert!(
                v.as_str().is_some_and(|v| v.contains("secrets.")),
                "{k} must come from secrets"
            );
        }
    }
    for role in ["OWNER", "MANAGER", "MEMBER", "CREW", "ACCOUNTANT"] {
        assert!(
            env.contains_key(format!("STAGEOS_{role}_PASSWORD").as_str()),
            "{role} password missing"
        );
    }
    assert!(env.contains_key("STAGEOS_OWNER_TOTP_SECRET"));

    let steps = at(job, &["steps"]).as_sequence().expect("steps");
    let uses = |prefix: &str| {
        steps.iter().find(|st| {
            st.get("uses")
                .and_then(Value::as_str)
                .is_some_and(|u| u.starts_with(prefix))
        })
    };
    let build = steps
        .iter()
        .filter_map(|st| st.get("run").and_then(Value::as_str))
        .any(|r| r.contains("cargo build --release"));
    assert!(build, "builds the binary");

    let upload = uses("actions/upload-artifact@").expect("uploads reports/");
    assert_eq!(
        s(upload, &["if"]),
        "always()",
        "reports are uploaded on red too"
    );
    assert!(s(upload, &["with", "path"]).starts_with("reports"));
    let junit = uses("mikepenz/action-junit-report@").expect("publishes the JUnit file");
    assert_eq!(s(junit, &["if"]), "always()");
    assert_eq!(s(junit, &["with", "report_paths"]), "reports/junit.xml");

    // The smoke step fails the job on red: no continue-on-error, exit code passed on.
    let mut commands = Vec::new();
    for st in steps {
        if let Some(run) = st.get("run").and_then(Value::as_str) {
            let found = invocations(run);
            if found
                .iter()
                .any(|a| a.get(1).map(String::as_str) == Some("run"))
            {
                assert!(
                    st.get("continue-on-error").is_none(),
                    "a red run must fail the job"
                );
                assert!(
                    run.contains("exit $code"),
                    "the smoke step exits with the suite's code"
                );
            }
            commands.extend(found);
        }
    }
    assert!(commands.len() >= 2, "{commands:?}");
    for argv in &commands {
        parse(argv);
    }
    assert!(
        commands
            .iter()
            .any(|a| matches!(parse(a).command, Some(Command::Run(_))))
    );
    assert!(
        commands
            .iter()
            .any(|a| matches!(parse(a).command, Some(Command::Doctor(_))))
    );
}

#[test]
fn gitlab_job_with_junit_report() {
    let ci = yaml("gitlab-ci.yml");
    let job = at(&ci, &["post-deploy-smoke"]);
    let stage = s(job, &["stage"]);
    assert!(
        at(&ci, &["stages"])
            .as_sequence()
            .expect("stages")
            .iter()
            .any(|v| v.as_str() == Some(stage))
    );
    assert_eq!(
        s(job, &["artifacts", "reports", "junit"]),
        "reports/junit.xml"
    );
    assert_eq!(
        s(job, &["artifacts", "when"]),
        "always",
        "reports are kept on red too"
    );
    assert!(
        at(job, &["artifacts", "paths"])
            .as_sequence()
            .expect("paths")
            .iter()
            .any(|p| p.as_str() == Some("reports/"))
    );
    assert!(at(job, &["variables"]).get("STAGEOS_BASE_URL").is_some());
    assert!(
        job.get("allow_failure").is_none(),
        "a red run must fail the pipeline"
    );
    let commands: Vec<Vec<String>> = at(job, &["script"])
        .as_sequence()
        .expect("script")
        .iter()
        .filter_map(Value::as_str)
        .flat_map(invocations)
        .collect();
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert!(matches!(parse(&commands[0]).command, Some(Command::Run(_))));
}

#[test]
fn kubernetes_canary_cronjob() {
    let cj = yaml("k8s-canary-cronjob.yaml");
    assert_eq!(s(&cj, &["apiVersion"]), "batch/v1");
    assert_eq!(s(&cj, &["kind"]), "CronJob");
    assert_eq!(
        s(&cj, &["spec", "schedule"]).split_whitespace().count(),
        5,
        "a five-field cron schedule"
    );
    assert_eq!(
        s(&cj, &["spec", "concurrencyPolicy"]),
        "Forbid",
        "runs never overlap"
    );
    let pod = at(&cj, &["spec", "jobTemplate", "spec", "template", "spec"]);
    assert_eq!(s(pod, &["restartPolicy"]), "Never");
    assert_eq!(
        at(pod, &["securityContext", "runAsNonRoot"]).as_bool(),
        Some(true)
    );
    let c = at(pod, &["containers", "0"]);
    assert!(s(c, &["image"]).contains("stageos-smoke"));
    assert!(
        at(c, &["envFrom", "0", "secretRef", "name"])
            .as_str()
            .is_some(),
        "credentials from a Secret"
    );
    let env = at(c, &["env"]).as_sequence().expect("env");
    assert!(
        env.iter()
            .any(|e| e.get("name").and_then(Value::as_str) == Some("STAGEOS_BASE_URL"))
    );
    assert!(
        !env.iter().any(|e| e
            .get("name")
            .and_then(Value::as_str)
            .is_some_and(|n| n.ends_with("PASSWORD") || n.ends_with("SECRET"))),
        "no secret inline"
    );
    // The image's ENTRYPOINT (no `command` override) + args.
    assert!(
        c.get("command").is_none(),
        "the example relies on the image's ENTRYPOINT"
    );
    let mut argv = entrypoint();
    argv.extend(
        at(c, &["args"])
            .as_sequence()
            .expect("args")
            .iter()
            .map(|a| a.as_str().expect("string arg").to_owned()),
    );
    assert!(
        matches!(parse(&argv).command, Some(Command::Canary(_))),
        "{argv:?}"
    );
    // The report directory is a writable volume (the root filesystem is read-only).
    let dir = argv
        .iter()
        .position(|a| a == "--report-dir")
        .map(|i| argv[i + 1].clone())
        .expect("--report-dir");
    assert!(
        at(c, &["volumeMounts"])
            .as_sequence()
            .expect("mounts")
            .iter()
            .any(|m| m.get("mountPath").and_then(Value::as_str) == Some(dir.as_str()))
    );
}

#[test]
fn dockerfile_is_multi_stage_non_root_and_runs_the_cli() {
    let df = example("Dockerfile");
    let froms: Vec<&str> = df.lines().filter(|l| l.starts_with("FROM ")).collect();
    assert!(froms.len() >= 2, "multi-stage: {froms:?}");
    let runtime = df.rsplit("\nFROM ").next().expect("final stage");
    assert!(
        runtime.contains("COPY --from=build"),
        "the final stage copies only the binary"
    );
    let user = runtime
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("USER in the final stage")
        .trim();
    let uid = user.split(':').next().unwrap_or(user);
    assert!(!matches!(uid, "root" | "0"), "runs as non-root, not {user}");
    let mut argv = entrypoint();
    argv.extend(json_array(&df, "CMD"));
    assert!(
        matches!(parse(&argv).command, Some(Command::Run(_))),
        "{argv:?}"
    );
}
