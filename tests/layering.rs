//! The crate's shape, checked: the agent core imports nothing above it,
//! the modules form no circle, and a service that embeds only the agent
//! (`default-features = false`) pulls in none of the command line's crates.
//! docs/architecture.md describes the layers.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The agent core: what `cargo build --lib --no-default-features` builds.
const CORE: [&str; 16] = [
    "adapters",
    "agent",
    "cache",
    "clock",
    "config",
    "de",
    "export",
    "http",
    "monitor",
    "per_thread",
    "pool",
    "primitives",
    "process",
    "sync",
    "text",
    "units",
];

/// Above the core, behind the `sim` feature.
const UPPER: [&str; 3] = ["report", "sim", "soak"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file of top-level module `name` (`src/name.rs`, `src/name/**`).
fn files(name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let file = src().join(format!("{name}.rs"));
    if file.is_file() {
        out.push(file);
    }
    let mut dirs = vec![src().join(name)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out
}

/// The top-level modules `crate::X` names in `text`.
fn referenced(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        // `tidepool::` is the binary's way in, not this crate's own path.
        if text[..i].ends_with("tide") {
            continue;
        }
        let name: String =
            text[i + 7..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
        if !name.is_empty() {
            out.insert(name);
        }
    }
    out
}

/// Code without comments (doc links are not dependencies).
fn code(text: &str) -> String {
    text.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

#[test]
fn every_module_is_in_a_layer() {
    let mut found: BTreeSet<String> = BTreeSet::new();
    for entry in std::fs::read_dir(src()).expect("src/").flatten() {
        let path = entry.path();
        let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string();
        if path.is_dir() || path.extension().is_some_and(|e| e == "rs") {
            found.insert(name);
        }
    }
    for name in found {
        let known = CORE.contains(&name.as_str())
            || UPPER.contains(&name.as_str())
            || ["lib", "main", "cli"].contains(&name.as_str());
        assert!(
            known,
            "src/{name}: a module in no layer; add it to CORE or UPPER here and to docs/architecture.md"
        );
    }
}

#[test]
fn the_agent_core_names_nothing_above_it() {
    for name in CORE {
        for file in files(name) {
            let text = std::fs::read_to_string(&file).expect("source");
            for above in referenced(&text) {
                assert!(
                    !UPPER.contains(&above.as_str()) && above != "cli",
                    "{}: names crate::{above}, above the agent core (docs included: they must build without it)",
                    file.display()
                );
            }
        }
    }
}

#[test]
fn the_modules_form_no_circle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for name in CORE.iter().chain(UPPER.iter()) {
        let mut uses = BTreeSet::new();
        for file in files(name) {
            let text = std::fs::read_to_string(&file).expect("source");
            uses.extend(referenced(&code(&text)).into_iter().filter(|u| u != name));
        }
        graph.insert(name.to_string(), uses);
    }
    // Depth-first search for a back edge.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(node) {
            return;
        }
        if let Some(at) = path.iter().position(|n| n == node) {
            panic!("a circle of modules: {} -> {node}", path[at..].join(" -> "));
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            visit(next, graph, path, done);
        }
        path.pop();
        done.insert(node.to_string());
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done);
    }
    // And the core needs no upper module even through a chain.
    for name in CORE {
        let mut reach: BTreeSet<String> = BTreeSet::new();
        let mut todo = vec![name.to_string()];
        while let Some(n) = todo.pop() {
            for next in graph.get(&n).into_iter().flatten() {
                if reach.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        assert!(reach.iter().all(|r| !UPPER.contains(&r.as_str())), "{name} reaches {reach:?}");
    }
}

#[test]
fn the_agent_alone_pulls_in_no_command_line_crate() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["tree", "--no-default-features", "-e", "normal", "--prefix", "none", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "cargo tree: {}", String::from_utf8_lossy(&out.stderr));
    let tree = String::from_utf8(out.stdout).expect("utf-8");
    let crates: BTreeSet<&str> = tree.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(crates.contains("metrics-exporter-prometheus") && crates.contains("quick_cache"), "{crates:?}");
    for above in ["clap", "indicatif", "signal-hook", "tracing-subscriber", "hdrhistogram"] {
        assert!(!crates.contains(above), "the agent alone pulls in {above}");
    }
    // With the default features, the binary's crates are there.
    let out = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["tree", "-e", "normal", "--prefix", "none", "--offline", "--depth", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    let tree = String::from_utf8(out.stdout).expect("utf-8");
    assert!(tree.contains("clap ") && tree.contains("indicatif "), "{tree}");
    // The adapters' peers come only with their features.
    for peer in ["r2d2 ", "bb8 ", "deadpool "] {
        assert!(!tree.lines().any(|l| l.starts_with(peer)), "the default build pulls in {peer}: {tree}");
    }
    let out = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["tree", "-e", "normal", "--prefix", "none", "--offline", "--depth", "1", "--features", "bb8"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    let tree = String::from_utf8(out.stdout).expect("utf-8");
    assert!(tree.lines().any(|l| l.starts_with("bb8 ")), "{tree}");
    assert!(!tree.lines().any(|l| l.starts_with("r2d2 ") || l.starts_with("deadpool ")), "{tree}");
}
