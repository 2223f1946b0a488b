//! The docs cannot drift from what they quote. Each check says which file
//! is out of date and the command that fixes it.
//!
//! * Generated blocks — `<!-- BEGIN SOURCE -->` + one fenced block +
//!   `<!-- END SOURCE -->` in README.md and docs/*.md — hold exactly what
//!   SOURCE gives: `file PATH` a file of the repository (the default agent
//!   configuration), `tidepool ARGS` the built binary's output (every
//!   subcommand's `--help`). `make docs` (`TIDEPOOL_DOCS=write cargo test
//!   --test docs`) rewrites them instead of comparing.
//! * The committed Grafana JSON is what `dashboards/grafana/generate.py`
//!   writes.
//! * The dependency table of docs/security.md lists every direct dependency
//!   of Cargo.toml and nothing else.
//! * Every relative link of the Markdown files resolves to a file, and
//!   every `#anchor` to a heading of it; the README stays within 12 KB;
//!   every page is compiled as doc tests (src/lib.rs).
//!
//! The metric tables are checked against live series in tests/docs_metrics.rs.

mod common;
#[allow(unused_imports)]
use common::*;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The README's budget: what a newcomer reads in a sitting.
const README_MAX_BYTES: usize = 12 * 1024;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(name: &str) -> String {
    let path = root().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The pages of the book: docs/*.md, sorted, relative to the root.
fn pages() -> Vec<String> {
    let mut pages: Vec<String> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    pages.sort();
    pages
}

/// Every Markdown file whose links are checked.
fn markdown_files() -> Vec<String> {
    let mut files: Vec<String> =
        ["README.md", "BENCHMARKS.md", "CHANGELOG.md", "dashboards/README.md", "workloads/README.md"]
            .map(String::from)
            .to_vec();
    files.extend(pages());
    files
}

/// `text` without its fenced code blocks (their lines become empty, so
/// line numbers stay right).
fn without_code_blocks(text: &str) -> String {
    let mut fenced = false;
    text.lines()
        .map(|line| {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                return "";
            }
            if fenced {
                ""
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// GitHub's anchor for a heading: lower case, letters, digits, `-` and `_`
/// kept, spaces to `-`, everything else dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown file's headings (repeats get `-1`, `-2`, ...).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = std::collections::BTreeMap::<String, usize>::new();
    let mut out = BTreeSet::new();
    for line in without_code_blocks(text).lines() {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        let Some(heading) = line.get(hashes..).and_then(|rest| rest.strip_prefix(' ')) else { continue };
        if hashes == 0 || hashes > 6 {
            continue;
        }
        let base = slug(heading);
        let n = seen.entry(base.clone()).or_insert(0);
        out.insert(if *n == 0 { base.clone() } else { format!("{base}-{n}") });
        *n += 1;
    }
    out
}

/// The link targets of `text` outside code: `(line, target)` of each
/// `](target)`.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in without_code_blocks(text).lines().enumerate() {
        // Inline code spans hold no links.
        let mut plain = String::new();
        for (j, part) in line.split('`').enumerate() {
            if j % 2 == 0 {
                plain.push_str(part);
            }
        }
        let mut rest = plain.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            out.push((i + 1, after[..end].to_string()));
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn the_readme_fits_in_a_sitting() {
    let bytes = read("README.md").len();
    assert!(
        bytes <= README_MAX_BYTES,
        "README.md is {bytes} bytes, over its {README_MAX_BYTES}-byte budget: move the detail to a page of docs/ and link it"
    );
}

#[test]
fn every_relative_link_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in markdown_files() {
        let text = read(&file);
        let dir = Path::new(&file).parent().unwrap_or(Path::new(""));
        for (line, target) in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, anchor) = target.split_once('#').unwrap_or((target.as_str(), ""));
            let resolved: PathBuf = if path.is_empty() { PathBuf::from(&file) } else { dir.join(path) };
            let full = root().join(&resolved);
            if !full.exists() {
                broken.push(format!("{file}:{line}: ({target}): no file {}", resolved.display()));
                continue;
            }
            if !anchor.is_empty() && full.extension().is_some_and(|e| e == "md") {
                let heads = anchors(&std::fs::read_to_string(&full).expect("read"));
                if !heads.contains(anchor) {
                    broken.push(format!(
                        "{file}:{line}: ({target}): no heading with anchor #{anchor} in {}",
                        resolved.display()
                    ));
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} links found: is the link parser broken?");
    assert!(broken.is_empty(), "{} broken links:\n{}", broken.len(), broken.join("\n"));
}

#[test]
fn anchors_follow_githubs_rules() {
    // The anchors other files link to, computed as GitHub computes them.
    assert_eq!(slug("Surviving faults (`make soak-ci`)"), "surviving-faults-make-soak-ci");
    assert_eq!(slug("Wall-clock time (`--time wall`)"), "wall-clock-time---time-wall");
    assert_eq!(
        slug("Re-run with trace capture (2026-11-27 23:33 UTC)"),
        "re-run-with-trace-capture-2026-11-27-2333-utc"
    );
    assert_eq!(slug("Anomaly detection: `tidepool detect`"), "anomaly-detection-tidepool-detect");
    let text = "# A\n```sh\n# not a heading\n```\n## A\n### `[pool]`\n";
    assert_eq!(anchors(text), ["a", "a-1", "pool"].map(String::from).into_iter().collect());
}

/// One generated block: its source, and where its content lies in the file.
struct Block {
    source: String,
    /// Byte range of the content between the fence lines.
    content: std::ops::Range<usize>,
    line: usize,
}

/// The `<!-- BEGIN SOURCE -->` blocks of `text`.
fn blocks(file: &str, text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("<!-- BEGIN ") {
        let begin = from + at;
        let line = text[..begin].lines().count() + 1;
        let head_end =
            begin + text[begin..].find(" -->\n").unwrap_or_else(|| panic!("{file}:{line}: unclosed BEGIN"));
        let source = text[begin + "<!-- BEGIN ".len()..head_end].to_string();
        let fence_start = head_end + " -->\n".len();
        assert!(
            text[fence_start..].starts_with("```"),
            "{file}:{line}: BEGIN {source} must be followed by a fenced block"
        );
        let content_start = fence_start + text[fence_start..].find('\n').expect("fence line") + 1;
        let end_marker = format!("```\n<!-- END {source} -->");
        let content_end = content_start
            + text[content_start..]
                .find(&end_marker)
                .unwrap_or_else(|| panic!("{file}:{line}: no `<!-- END {source} -->` after the block"));
        out.push(Block { source, content: content_start..content_end, line });
        from = content_end + end_marker.len();
    }
    out
}

/// What a block's source gives now.
fn generate(source: &str) -> Result<String, String> {
    let mut words = source.split_whitespace();
    match words.next() {
        Some("file") => {
            let path = words.next().ok_or("`file` needs a path")?;
            std::fs::read_to_string(root().join(path)).map_err(|e| format!("{path}: {e}"))
        }
        Some("tidepool") => {
            let args: Vec<&str> = words.collect();
            let out = tidepool(&args);
            if !out.status.success() {
                return Err(format!(
                    "`{source}` exited {}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            String::from_utf8(out.stdout).map_err(|e| format!("`{source}`: {e}"))
        }
        _ => Err(format!("unknown source `{source}` (expected `file PATH` or `tidepool ARGS`)")),
    }
}

#[test]
fn generated_blocks_hold_what_their_sources_give() {
    let write = std::env::var("TIDEPOOL_DOCS").is_ok_and(|v| v == "write");
    let mut stale = Vec::new();
    let mut sources = BTreeSet::new();
    for file in std::iter::once("README.md".to_string()).chain(pages()) {
        let mut text = read(&file);
        let found = blocks(&file, &text);
        // Back to front, so that earlier ranges stay valid while rewriting.
        for block in found.iter().rev() {
            sources.insert(block.source.clone());
            let mut want = generate(&block.source).unwrap_or_else(|e| panic!("{file}:{}: {e}", block.line));
            if !want.ends_with('\n') {
                want.push('\n');
            }
            let have = &text[block.content.clone()];
            if have != want {
                let first = have
                    .lines()
                    .zip(want.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or_else(|| have.lines().count().min(want.lines().count()));
                stale.push(format!(
                    "{file}:{}: the block `{}` differs from its source from its line {}:\n  docs:   {:?}\n  source: {:?}",
                    block.line,
                    block.source,
                    first + 1,
                    have.lines().nth(first).unwrap_or("(end)"),
                    want.lines().nth(first).unwrap_or("(end)"),
                ));
                text.replace_range(block.content.clone(), &want);
            }
        }
        if write && !found.is_empty() {
            std::fs::write(root().join(&file), &text).expect("rewrite");
        }
    }
    // What must be quoted somewhere: the default configuration and every
    // subcommand's help (a block deleted from the docs is drift too).
    let mut required = vec!["file config/tidepool.toml".to_string(), "tidepool --help".to_string()];
    let top = generate("tidepool --help").expect("tidepool --help");
    let commands: Vec<String> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(String::from)
        .collect();
    assert!(commands.len() >= 7, "subcommands not found in `tidepool --help`:\n{top}");
    for command in &commands {
        required.push(format!("tidepool {command} --help"));
    }
    let missing: Vec<&String> = required.iter().filter(|s| !sources.contains(*s)).collect();
    assert!(
        missing.is_empty(),
        "no generated block for {missing:?}: add `<!-- BEGIN SOURCE -->`, an empty ```text block and `<!-- END SOURCE -->` \
         to the page that documents it (docs/cli.md, docs/agent.md), then run `make docs`"
    );
    if !write {
        assert!(
            stale.is_empty(),
            "{} generated blocks are out of date; run `make docs` to regenerate them, then review and commit:\n{}",
            stale.len(),
            stale.join("\n")
        );
    }
}

#[test]
fn the_grafana_dashboards_are_what_generate_py_writes() {
    let Some(python) = require(&["python3"]) else { return };
    let scratch = tempfile::tempdir().expect("tempdir");
    let grafana = root().join("dashboards/grafana");
    // The script writes next to itself: run a copy.
    std::fs::copy(grafana.join("generate.py"), scratch.path().join("generate.py")).expect("copy generate.py");
    let out = std::process::Command::new(python)
        .arg(scratch.path().join("generate.py"))
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "generate.py failed: {}", String::from_utf8_lossy(&out.stderr));
    let json_in = |dir: &Path| -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .collect()
    };
    let written = json_in(scratch.path());
    assert!(written.len() >= 4, "generate.py wrote only {written:?}");
    assert_eq!(
        written,
        json_in(&grafana),
        "dashboards/grafana holds other JSON files than generate.py writes: run `python3 dashboards/grafana/generate.py` and remove the others"
    );
    for name in &written {
        let want = std::fs::read_to_string(scratch.path().join(name)).expect("generated");
        let have = std::fs::read_to_string(grafana.join(name)).expect("committed");
        assert!(
            have == want,
            "dashboards/grafana/{name} is not what generate.py writes (edited by hand, or the script changed): \
             run `python3 dashboards/grafana/generate.py` (or `make docs`) and commit the result"
        );
    }
}

#[test]
fn every_page_is_compiled_as_doc_tests() {
    let lib = read("src/lib.rs");
    for page in std::iter::once("README.md".to_string()).chain(pages()) {
        let include = format!("include_str!(\"../{page}\")");
        assert!(
            lib.contains(&include),
            "src/lib.rs's `doc_examples` lacks `#[doc = {include}]`: {page}'s Rust examples are not compiled"
        );
    }
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
    let kinds = [("dependencies", "normal"), ("dev-dependencies", "dev"), ("build-dependencies", "build")];
    for (key, kind) in kinds {
        names(manifest.get(key), kind, &mut out);
    }
    if let Some(targets) = manifest.get("target").and_then(toml::Value::as_table) {
        for (cfg, table) in targets {
            for (key, kind) in kinds {
                names(table.get(key), &format!("{kind}, target {cfg}"), &mut out);
            }
        }
    }
    out
}

/// The crates named in the first column of a section's table.
fn listed(file: &str, heading: &str) -> BTreeSet<String> {
    let text = read(file);
    let start =
        text.find(&format!("\n{heading}\n")).unwrap_or_else(|| panic!("{file} has no `{heading}` section"));
    let section = &text[start + 1..];
    let section = section[3..].find("\n## ").map_or(section, |end| &section[..end + 3]);
    section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once('`'))
        .map(|(name, _)| name.to_string())
        .collect()
}

#[test]
fn every_direct_dependency_is_in_the_docs() {
    const FILE: &str = "docs/security.md";
    let deps = dependencies();
    assert!(deps.len() > 30, "Cargo.toml parsed into only {} dependencies: {deps:?}", deps.len());
    assert!(deps.iter().any(|(_, k)| k.contains("optional")), "no optional dependency found");
    assert!(deps.iter().any(|(_, k)| k == "dev"), "no dev-dependency found");
    let listed = listed(FILE, "## Dependencies and licenses");
    let missing: Vec<String> =
        deps.iter().filter(|(name, _)| !listed.contains(name)).map(|(n, k)| format!("{n} ({k})")).collect();
    assert!(
        missing.is_empty(),
        "{FILE} \"Dependencies and licenses\" lacks a row `| `NAME` | kind | requirement | license | why |` for: {}",
        missing.join(", ")
    );
    let known: BTreeSet<&str> = deps.iter().map(|(n, _)| n.as_str()).collect();
    let stale: Vec<&String> = listed.iter().filter(|n| !known.contains(n.as_str())).collect();
    assert!(stale.is_empty(), "{FILE} lists crates that are not dependencies any more: {stale:?}");
}
