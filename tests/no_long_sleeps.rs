//! Waiting is event- or poll-driven: no fixed sleep of a second or more anywhere in
//! the suite's or the reference server's source (`src/`, `crates/*/src/`,
//! `reference/src/`). A longer wait is a poll with a deadline
//! (`crates/http/src/wait.rs`) or an event.
//!
//! One exemption, explicit on its line: a conformance variation of the reference
//! that makes the target slow (slow scans, slow deliveries) sleeps because being
//! slow is what it models; its line ends in `// slow on purpose: <variation>`.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The literal duration, in ms, of a `sleep(Duration::from_secs|millis(N))` on this line.
fn fixed_sleep_ms(line: &str) -> Option<u64> {
    let code = line.split("//").next()?;
    let at = code.find("sleep(Duration::from_")?;
    let rest = &code[at + "sleep(Duration::from_".len()..];
    let (unit, rest) = rest.split_once('(')?;
    let digits: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '_')
        .filter(|c| *c != '_')
        .collect();
    let n: u64 = digits.parse().ok()?;
    match unit {
        "secs" => Some(n * 1000),
        "millis" => Some(n),
        _ => None,
    }
}

#[test]
fn no_fixed_sleep_of_a_second_or_more() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    for krate in std::fs::read_dir(root.join("crates"))
        .expect("crates/")
        .flatten()
    {
        rust_files(&krate.path().join("src"), &mut files);
    }
    rust_files(&root.join("reference/src"), &mut files);
    assert!(
        files.len() > 20,
        "found too few source files: {}",
        files.len()
    );
    let mut offenders = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let reference = f.starts_with(root.join("reference/src"));
        for (i, line) in text.lines().enumerate() {
            if reference && line.contains("// slow on purpose: ") {
                continue;
            }
            if let Some(ms) = fixed_sleep_ms(line)
                && ms >= 1000
            {
                offenders.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "fixed sleeps of 1 s or more (poll with a deadline instead):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_detector_sees_what_it_must() {
    assert_eq!(
        fixed_sleep_ms("tokio::time::sleep(Duration::from_secs(2)).await;"),
        Some(2000)
    );
    assert_eq!(
        fixed_sleep_ms("sleep(Duration::from_millis(1_500))"),
        Some(1500)
    );
    assert_eq!(fixed_sleep_ms("sleep(Duration::from_millis(50))"), Some(50));
    assert_eq!(fixed_sleep_ms("// sleep(Duration::from_secs(9))"), None);
    assert_eq!(fixed_sleep_ms("sleep(delay)"), None);
}
