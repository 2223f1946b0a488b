//! The README's "Dependencies and licenses" table lists every direct
//! dependency of Cargo.toml (normal, optional, dev, target-specific) and
//! nothing else, so the list cannot rot.

use std::collections::BTreeSet;

fn read(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The names in `table` (a `[dependencies]`-like table), with their kind.
fn names(table: Option<&toml::Value>, kind: &str, out: &mut Vec<(String, String)>) {
    if let Some(table) = table.and_then(toml::Value::as_table) {
        for (name, spec) in table {
            let optional = spec.get("optional").and_then(toml::Value::as_bool).unwrap_or(false);
            let kind = if optional { format!("{kind} (optional)") } else { kind.to_string() };
            out.push((name.clone(), kind));
        }
    }
}

/// Every direct dependency of Cargo.toml: (name, kind).
fn dependencies() -> Vec<(String, String)> {
    let manifest: toml::Value = toml::from_str(&read("Cargo.toml")).expect("Cargo.toml parses");
    let mut out = Vec::new();
    for (key, kind) in
        [("dependencies", "normal"), ("dev-dependencies", "dev"), ("build-dependencies", "build")]
    {
        names(manifest.get(key), kind, &mut out);
    }
    if let Some(targets) = manifest.get("target").and_then(toml::Value::as_table) {
        for (cfg, table) in targets {
            for (key, kind) in
                [("dependencies", "normal"), ("dev-dependencies", "dev"), ("build-dependencies", "build")]
            {
                names(table.get(key), &format!("{kind}, target {cfg}"), &mut out);
            }
        }
    }
    out
}

/// The crates named in the first column of the README section's table.
fn listed() -> BTreeSet<String> {
    let readme = read("README.md");
    let start = readme
        .find("\n## Dependencies and licenses\n")
        .expect("README has a `## Dependencies and licenses` section");
    let section = &readme[start + 1..];
    let section = section[3..].find("\n## ").map_or(section, |end| &section[..end + 3]);
    section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`'))
        .map(|(name, _)| name.to_string())
        .collect()
}

#[test]
fn every_direct_dependency_is_in_the_readme() {
    let deps = dependencies();
    assert!(deps.len() > 30, "Cargo.toml parsed into only {} dependencies: {deps:?}", deps.len());
    assert!(deps.iter().any(|(_, k)| k.contains("optional")), "no optional dependency found");
    assert!(deps.iter().any(|(_, k)| k == "dev"), "no dev-dependency found");
    let listed = listed();
    let missing: Vec<String> =
        deps.iter().filter(|(name, _)| !listed.contains(name)).map(|(n, k)| format!("{n} ({k})")).collect();
    assert!(
        missing.is_empty(),
        "README.md \"Dependencies and licenses\" lacks a row `| `NAME` | kind | requirement | license | why |` for: {}",
        missing.join(", ")
    );
    let known: BTreeSet<&str> = deps.iter().map(|(n, _)| n.as_str()).collect();
    let stale: Vec<&String> = listed.iter().filter(|n| !known.contains(n.as_str())).collect();
    assert!(stale.is_empty(), "README.md lists crates that are not dependencies any more: {stale:?}");
}
