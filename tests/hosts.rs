//! Agents on another host over ssh, against a real sshd on 127.0.0.1 (see `hosts_support`):
//! spawn --host, outcomes written back here, logs, kill, agents --json, a host that goes away
//! mid-run and comes back, and `hosts check`.

mod hosts_support;

use std::fs;
use std::time::Instant;

use hosts_support::agents::PATIENCE;
use hosts_support::{World, available, show};

/// A fake agent: prints its task, a SUMMARY line, and exits with the code named after
/// `exit:` in the task (0 without one).
const FAKE: &str = "  fake:\n    command: [sh, \"{bin}/fake.sh\", \"{task}\"]\n";

fn fake_world(with_sessions: bool) -> World {
    let w = World::new(FAKE, with_sessions);
    w.script(
        "fake.sh",
        r#"echo "working on: $1 in $(pwd)"
case "$1" in *exit:*) code="${1##*exit:}" ;; *) code=0 ;; esac
case "$1" in *wait-for:*) f="${1##*wait-for:}"; f="${f%% *}"; i=0
  while [ ! -e "$f" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done ;; esac
case "$1" in *sleep*) i=0; while [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done ;; esac
echo "SUMMARY: did $1"
exit $code"#,
    );
    w
}

#[test]
fn a_run_on_another_host_completes_and_its_outcome_is_written_here() {
    if !available() {
        return;
    }
    let w = fake_world(true);
    let run = w.spawn("fake", "tidy up");
    let id = run["run_id"].as_str().unwrap().to_string();
    assert_eq!(run["runner"], "ssh", "{run:#}");
    let done = w.wait_agent(&id, "completed", |r| r["status"] == "completed");
    assert_eq!(done["exit_code"], 0, "{done:#}");
    assert_eq!(done["summary"], "did tidy up");
    assert_eq!(done["remote"]["host"], "build1");
    assert_eq!(done["remote"]["run_id"], id.as_str());
    assert!(done["remote"]["pid"].is_u64(), "{done:#}");
    assert!(done["remote"]["pid_start"].is_u64(), "{done:#}");
    // The local file has the entry, its host and the outcome.
    let text = w.local.wait_file("the outcome", |t| t.contains("status: completed"));
    assert!(text.contains("host: \"build1\""), "{text}");
    assert!(text.contains("did tidy up"), "{text}");
    // The agent ran in the remote checkout; its log was copied here.
    let log = fs::read_to_string(w.local.root().join(done["log"].as_str().unwrap())).unwrap();
    assert!(
        log.contains(&format!("in {}", w.remote_root().display())),
        "{log}"
    );
    // The remote side kept its own record and log, and left its copy of the file alone.
    let remote = w.remote(&["agents", "--all", "--json"]);
    let remote: Vec<serde_json::Value> = serde_json::from_slice(&remote.stdout).unwrap();
    assert_eq!(remote.len(), 1, "{remote:#?}");
    assert_eq!(remote[0]["status"], "completed");
    let remote_file = fs::read_to_string(
        w.remote_root()
            .join(w.local.path.strip_prefix(w.local.root()).unwrap()),
    )
    .unwrap();
    assert!(!remote_file.contains(&id), "{remote_file}");
}
