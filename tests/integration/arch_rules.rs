//! Architecture rules of docs/ARCHITECTURE.md, checked on the source text:
//! the pure core does no I/O, only `store` holds SQL, only `http` knows
//! actix-web, only `snyk` knows Snyk's wire format (and never reaches back
//! into `sync`), and time comes from the injected clock.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let p = entry.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// (file, line) pairs where `needle` appears outside the allowed places.
fn offenders(needle: &str, allowed: impl Fn(&Path) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    for f in rust_files(&src()) {
        let rel = f.strip_prefix(src()).expect("under src").to_path_buf();
        if allowed(&rel) {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("read");
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains(needle) {
                out.push(format!("src/{}:{}: {}", rel.display(), i + 1, line.trim()));
            }
        }
    }
    out
}

fn is_pure(rel: &Path) -> bool {
    let s = rel.to_string_lossy();
    s.starts_with("scim/")
        || s == "domain.rs"
        || s == "sync/mapping.rs"
        || s == "sync/planner.rs"
        || s == "sync/judge.rs"
        || s == "sync/retry.rs"
        || s == "sync/safety.rs"
        || s == "sync/budget.rs"
        || s.starts_with("webhook/")
}

#[test]
fn the_pure_core_imports_no_io_crates() {
    for needle in ["sqlx", "reqwest", "actix", "tokio", "std::fs", "std::net"] {
        let found = offenders(needle, |rel| !is_pure(rel));
        assert!(
            found.is_empty(),
            "{needle} in the pure core:\n{}",
            found.join("\n")
        );
    }
}

#[test]
fn only_the_store_holds_sql() {
    let found = offenders("sqlx::query", |rel| rel.starts_with("store"));
    assert!(
        found.is_empty(),
        "SQL outside src/store:\n{}",
        found.join("\n")
    );
}

#[test]
fn only_the_http_layer_knows_actix() {
    let found = offenders("actix_web", |rel| rel.starts_with("http"));
    assert!(
        found.is_empty(),
        "actix-web outside src/http:\n{}",
        found.join("\n")
    );
}

#[test]
fn time_comes_from_the_clock() {
    for needle in ["Utc::now", "SystemTime::now", "thread::sleep"] {
        let found = offenders(needle, |rel| rel == Path::new("clock.rs"));
        assert!(
            found.is_empty(),
            "{needle} outside src/clock.rs:\n{}",
            found.join("\n")
        );
    }
}

#[test]
fn the_snyk_client_never_reaches_back_into_the_sync_engine() {
    let found = offenders("crate::sync", |rel| !rel.starts_with("snyk"));
    assert!(
        found.is_empty(),
        "src/snyk imports the sync engine:\n{}",
        found.join("\n")
    );
}

/// Like [`offenders`], in non-test code only (before a file's `#[cfg(test)]`).
fn offenders_outside_tests(needle: &str, allowed: impl Fn(&Path) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    for f in rust_files(&src()) {
        let rel = f.strip_prefix(src()).expect("under src").to_path_buf();
        if allowed(&rel) || rel.ends_with("tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("read");
        for (i, line) in text.lines().enumerate() {
            if line.trim() == "#[cfg(test)]" {
                break;
            }
            let code = line.split("//").next().unwrap_or("");
            if code.contains(needle) {
                out.push(format!("src/{}:{}: {}", rel.display(), i + 1, line.trim()));
            }
        }
    }
    out
}

#[test]
fn only_the_snyk_module_spells_snyk_paths() {
    for needle in ["\"/org/", "\"/group/"] {
        let found = offenders_outside_tests(needle, |rel| rel.starts_with("snyk"));
        assert!(
            found.is_empty(),
            "Snyk paths built outside src/snyk:\n{}",
            found.join("\n")
        );
    }
}
