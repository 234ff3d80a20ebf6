//! The supergraph has no breaking change against the previous commit unless it
//! is acknowledged in `schema/breaking-changes.txt`.
//!
//! "Previous" is `HEAD` while the working tree's supergraph differs from it (a
//! change being made), else `HEAD~1` (the change just committed, as CI sees it).

use std::process::Command;

use fittrack::{operations::api_schema, schema_diff};

const SUPERGRAPH: &str = "schema/supergraph.graphql";

fn git_show(rev: &str) -> Option<String> {
    let output = Command::new("git")
        .args(["show", &format!("{rev}:{SUPERGRAPH}")])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn no_unacknowledged_breaking_change_against_the_previous_commit() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let current = std::fs::read_to_string(root.join(SUPERGRAPH)).expect("supergraph");
    let previous = match git_show("HEAD") {
        Some(head) if head != current => Some(head),
        Some(_) => git_show("HEAD~1"),
        None => None,
    };
    let Some(previous) = previous else {
        eprintln!("no previous supergraph in git history: nothing to compare");
        return;
    };
    let (old, new) = (
        api_schema(&previous).expect("previous supergraph"),
        api_schema(&current).expect("current supergraph"),
    );
    let acknowledged = schema_diff::acknowledged(
        &std::fs::read_to_string(root.join("schema/breaking-changes.txt")).unwrap_or_default(),
    );
    let unacknowledged: Vec<String> = schema_diff::breaking_changes(&old, &new)
        .into_iter()
        .filter(|change| !acknowledged.contains(&change.path))
        .map(|change| format!("{}: {}", change.path, change.message))
        .collect();
    assert!(
        unacknowledged.is_empty(),
        "breaking schema changes; fix them, or list each path in schema/breaking-changes.txt \
         with the reason and how clients were updated:\n  {}",
        unacknowledged.join("\n  ")
    );
}
