//! The committed schema files must be exactly what the code exports and composes.

use std::process::Command;

#[test]
fn committed_schemas_match_the_code() {
    let output = Command::new(env!("CARGO_BIN_EXE_fittrack"))
        .args(["compose", "--check"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("fittrack compose runs");
    assert!(
        output.status.success(),
        "schema drift — run `cargo run -- compose` and commit schema/:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_supergraph_is_federation_2_and_lists_every_subgraph() {
    let supergraph = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schema/supergraph.graphql"
    ))
    .expect("supergraph committed");
    assert!(supergraph.contains("@link(url: \"https://specs.apollo.dev/join/v0."));
    assert!(supergraph.contains("USER @join__graph(name: \"user\""));
    assert!(supergraph.contains("type User"));
}
