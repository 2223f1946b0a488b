//! A real Pushgateway (Debian's `prometheus-pushgateway`, installed by
//! `make deps`, started on loopback) holds a soak's final push in the group
//! of its `--job` and `--instance` (defaults `tidepool` and the host name),
//! with a wall-clock run's live series under the same labels, and drops the
//! group when asked. Under `CI=true` a missing server is a failure.

mod common;
#[allow(unused_imports)]
use common::*;

use std::process::Command;

/// The value of the first series of `name` whose line contains every needle.
fn value(exposition: &str, name: &str, needles: &[&str]) -> Option<f64> {
    exposition
        .lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .find(|l| needles.iter().all(|n| l.contains(n)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn a_pushgateway_holds_the_final_push_and_drops_it_on_request() {
    let Some(binary) = require(&["prometheus-pushgateway", "pushgateway"]) else { return };
    let port = free_port();
    let _server =
        start_server(&binary, &[format!("--web.listen-address=127.0.0.1:{port}")], port, "pushgateway");
    let dir = tempfile::tempdir().expect("tempdir");
    let w = dir.path().join("ci-job.toml");
    std::fs::write(
        &w,
        "name = \"ci-job\"\nduration = \"10m\"\nhold = { dist = \"constant\", value = \"2ms\" }\n[pool]\n\
         [[phase]]\nname = \"p\"\nduration = \"10m\"\narrival = { process = \"poisson\", rate = 50 }\n\
         [slo]\nmax_error_rate = 0.01\n",
    )
    .expect("write");
    let url = format!("http://127.0.0.1:{port}");
    let out = dir.path().join("out");
    let run = |extra: &[&str]| {
        let mut args = vec!["soak", w.to_str().expect("utf-8"), "--pushgateway", &url, "--force", "--out"];
        args.push(out.to_str().expect("utf-8"));
        args.push("-q");
        args.extend_from_slice(extra);
        Command::new(env!("CARGO_BIN_EXE_tidepool")).args(&args).output().expect("tidepool runs")
    };
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let (_, metrics) = get(port, "/metrics").expect("pushgateway /metrics");
    // By default the group is job `tidepool`, instance the host name (a
    // virtual-time run serves no /metrics, so no port).
    let host = tidepool::export::hostname();
    let host_label = format!("instance=\"{host}\"");
    let default_group = ["job=\"tidepool\"", host_label.as_str()];
    assert_eq!(value(&metrics, "tidepool_soak_passed", &default_group), Some(1.0), "{metrics}");
    // --job and --instance name the group; an instance with a `/` goes
    // through the gateway's base64 form of the path.
    let labels = ["--job", "fleet", "--instance", "ci/runner-7"];
    let o = run(&labels);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).expect("report"))
            .expect("json");
    let (_, metrics) = get(port, "/metrics").expect("pushgateway /metrics");
    let group = ["job=\"fleet\"", "instance=\"ci/runner-7\""];
    assert_eq!(value(&metrics, "tidepool_soak_passed", &group), Some(1.0), "{metrics}");
    let arrived = value(&metrics, "tidepool_soak_operations", &[group[0], group[1], "result=\"arrived\""]);
    assert_eq!(arrived, report["ops"]["arrived"].as_f64(), "the pushed figures are the report's");
    assert_eq!(
        value(&metrics, "tidepool_soak_gate_passed", &[group[0], "gate=\"max_error_rate\""]),
        Some(1.0),
        "{metrics}"
    );
    // Asked to, the end of a run deletes the group.
    let o = run(&[&labels[..], &["--pushgateway-delete"]].concat());
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let (_, metrics) = get(port, "/metrics").expect("pushgateway /metrics");
    assert!(value(&metrics, "tidepool_soak_passed", &group).is_none(), "the group is gone: {metrics}");
    assert_eq!(value(&metrics, "tidepool_soak_passed", &default_group), Some(1.0), "the other group stays");
    // A wall-clock run pushes its live series too: they carry the same job
    // and instance as the group (and as its /metrics would).
    let listen = format!("127.0.0.1:{}", free_port());
    let o = run(&[
        "--time",
        "wall",
        "--duration",
        "2s",
        "--listen",
        &listen,
        "--job",
        "fleet",
        "--instance",
        "runner-w",
    ]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let (_, metrics) = get(port, "/metrics").expect("pushgateway /metrics");
    let wall_group = ["job=\"fleet\"", "instance=\"runner-w\""];
    assert_eq!(value(&metrics, "tidepool_soak_passed", &wall_group), Some(1.0), "{metrics}");
    let live = metrics
        .lines()
        .filter(|l| l.starts_with("tidepool_pool_objects{") && l.contains("pool=\"ci-job\""))
        .collect::<Vec<_>>();
    assert!(!live.is_empty(), "{metrics}");
    assert!(live.iter().all(|l| wall_group.iter().all(|g| l.contains(g))), "{live:?}");

    // A gateway that is not there is an error, after the reports are written.
    let o = Command::new(env!("CARGO_BIN_EXE_tidepool"))
        .args(["soak", w.to_str().expect("utf-8"), "--pushgateway", "http://127.0.0.1:1", "--out"])
        .arg(dir.path().join("out2"))
        .arg("-q")
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("pushgateway"), "{o:?}");
    assert!(dir.path().join("out2").join("report.json").is_file());
}
