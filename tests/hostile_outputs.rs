//! Output files under a hostile or careless `--out`: links planted under
//! the names tidepool writes (its temporary files included), devices and
//! FIFOs where a report goes, and output names that are the run's own files
//! or inputs. Nothing is ever written through a link or over anything but
//! a regular file; what is refused is refused up front with exit 2.

mod common;
use common::{tidepool, write};

use std::os::unix::fs::{symlink, FileTypeExt};
use std::path::Path;

const WORKLOAD: &str = r#"
name = "tiny"
seed = 1
duration = "10s"
[pool]
min = 1
max = 2
[[phase]]
name = "p"
duration = "10s"
arrival = { process = "poisson", rate = 20 }
hold = { dist = "constant", value = "1ms" }
"#;

/// A file outside `--out` that a planted link points at.
fn victim(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("victim.txt");
    std::fs::write(&path, "precious").expect("write victim");
    path
}

fn untouched(victim: &Path) {
    assert_eq!(std::fs::read_to_string(victim).expect("victim"), "precious", "written through a link");
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Puts something hostile at a path.
type Plant<'a> = dyn Fn(&Path) + 'a;

fn mkfifo(path: &Path) {
    let made = std::process::Command::new("mkfifo").arg(path).status().expect("mkfifo runs");
    assert!(made.success());
}

/// Links planted under every temporary name the old code used (and any
/// name at all: the temporary files are now created exclusively under
/// fresh names) are never followed: the run writes its reports beside them.
#[test]
fn links_planted_under_temporary_names_are_never_followed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let victim = victim(dir.path());
    let workload = write(dir.path(), "w.toml", WORKLOAD);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("out");
    for name in ["report.json", "report.md", "report.html", "checkpoint.json", "trace.jsonl"] {
        symlink(&victim, out.join(format!(".{name}.tmp"))).expect("plant");
    }
    let o = tidepool(&[
        "soak",
        &workload,
        "--out",
        out.to_str().expect("utf-8"),
        "--record-trace",
        "trace.jsonl",
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    untouched(&victim);
    for name in ["report.json", "report.md", "report.html", "trace.jsonl"] {
        let meta = std::fs::symlink_metadata(out.join(name)).expect(name);
        assert!(meta.file_type().is_file() && meta.len() > 0, "{name}");
    }
    // The planted links are still links to the victim; no temporary file is left.
    let left: Vec<String> = std::fs::read_dir(&out)
        .expect("read out")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.ends_with(".tmp") && !std::fs::symlink_metadata(out.join(n)).expect("meta").is_symlink()
        })
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

/// A link, a directory or a FIFO under a run file's name is refused, even
/// with --force: exit 2 before anything runs, and the link's target is
/// untouched (a dangling one is not created either).
#[test]
fn force_replaces_regular_files_only() {
    let dir = tempfile::tempdir().expect("temp dir");
    let victim = victim(dir.path());
    let workload = write(dir.path(), "w.toml", WORKLOAD);
    let cases: [(&str, &Plant<'_>); 4] = [
        ("report.json", &|p| symlink(&victim, p).expect("link")),
        ("samples.jsonl", &|p| symlink(dir.path().join("created-through-a-link"), p).expect("dangling link")),
        ("alerts.jsonl", &|p| mkfifo(p)),
        ("report.md", &|p| std::fs::create_dir(p).expect("dir")),
    ];
    for (name, plant) in cases {
        let out = dir.path().join(format!("out-{name}"));
        std::fs::create_dir(&out).expect("out");
        plant(&out.join(name));
        let o = tidepool(&["soak", &workload, "--out", out.to_str().expect("utf-8"), "--force", "-q"]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains(name) && stderr(&o).contains("refusing"), "{name}: {}", stderr(&o));
        assert!(!out.join("report.json").is_file() || name == "report.json", "{name}: the run went on");
    }
    untouched(&victim);
    assert!(!dir.path().join("created-through-a-link").exists(), "a dangling link was followed");
    let fifo = dir.path().join("out-alerts.jsonl").join("alerts.jsonl");
    assert!(std::fs::symlink_metadata(&fifo).expect("fifo").file_type().is_fifo(), "the FIFO was replaced");
}

/// `detect --out` over a FIFO (as over /dev/null) is refused with --force
/// too, and the FIFO stays one.
#[test]
fn detect_never_replaces_a_special_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let series =
        write(dir.path(), "s.csv", "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:01:00,2\n");
    let fifo = dir.path().join("scores.csv");
    mkfifo(&fifo);
    let o = tidepool(&["detect", &series, "--out", fifo.to_str().expect("utf-8"), "--force"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("a FIFO"), "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(&fifo).expect("fifo").file_type().is_fifo());
    // A link to a regular file elsewhere is refused too.
    let victim = victim(dir.path());
    let link = dir.path().join("link.csv");
    symlink(&victim, &link).expect("link");
    let o = tidepool(&["detect", &series, "--out", link.to_str().expect("utf-8"), "--force"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    untouched(&victim);
}

/// `--record-trace` may not name the run's own files or its input.
#[test]
fn a_trace_may_not_overwrite_the_runs_own_files_or_its_input() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("out");
    let workload = write(&out, "w.toml", WORKLOAD);
    for name in ["report.json", "samples.jsonl", "checkpoint.json", "w.toml"] {
        let o = tidepool(&[
            "soak",
            &workload,
            "--out",
            out.to_str().expect("utf-8"),
            "--record-trace",
            name,
            "--force",
            "-q",
        ]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains(name), "{name}: {}", stderr(&o));
    }
    assert_eq!(std::fs::read_to_string(&workload).expect("workload"), WORKLOAD, "the input was overwritten");
}

/// `tidepool report --out` (recovery) refuses a link where its report goes.
#[test]
fn recovery_never_writes_through_a_link() {
    let dir = tempfile::tempdir().expect("temp dir");
    let victim = victim(dir.path());
    let workload = write(dir.path(), "w.toml", WORKLOAD);
    let run = dir.path().join("run");
    let o = tidepool(&["soak", &workload, "--out", run.to_str().expect("utf-8"), "-q"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // A killed run leaves its checkpoint and no report: make this one so.
    // (A checkpoint is a full report.json written as the run goes.)
    std::fs::rename(run.join("report.json"), run.join("checkpoint.json")).expect("as a checkpoint");
    let rebuilt = dir.path().join("rebuilt");
    std::fs::create_dir(&rebuilt).expect("dir");
    symlink(&victim, rebuilt.join("report.md")).expect("link");
    let o = tidepool(&[
        "report",
        run.join("samples.jsonl").to_str().expect("utf-8"),
        "--out",
        rebuilt.to_str().expect("utf-8"),
        "--force",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("symbolic link"), "{}", stderr(&o));
    untouched(&victim);
}
