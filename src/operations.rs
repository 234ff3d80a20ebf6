//! Client operations (`clients/operations/*.graphql`): validated against the
//! composed API schema, and published as a persisted-documents manifest
//! (`clients/persisted-documents.json`, Apollo's manifest format, which both
//! hive-router and Apollo Router read).

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use anyhow::{bail, Context as _};
use apollo_compiler::{
    executable::{Selection, SelectionSet},
    validation::Valid,
    ExecutableDocument, Schema,
};
use apollo_federation::{ApiSchemaOptions, Supergraph};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The schema clients see: the supergraph without federation's machinery.
pub fn api_schema(supergraph_sdl: &str) -> anyhow::Result<Valid<Schema>> {
    let supergraph =
        Supergraph::new(supergraph_sdl).map_err(|e| anyhow::anyhow!("invalid supergraph: {e}"))?;
    let api = supergraph
        .to_api_schema(ApiSchemaOptions::default())
        .map_err(|e| anyhow::anyhow!("deriving the API schema: {e}"))?;
    Ok(api.schema().clone())
}

/// One operation as a client sends it: the operation and the fragments it uses.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PersistedOperation {
    /// SHA-256 of `body`, hex: what a client sends as `documentId`.
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub body: String,
}

/// Every operation under `dir`, validated against `schema`; names must be
/// unique across files (they name generated code and manifest entries).
pub fn load(schema: &Valid<Schema>, dir: &Path) -> anyhow::Result<Vec<PersistedOperation>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "graphql"))
        .collect();
    paths.sort();
    let mut operations: BTreeMap<String, PersistedOperation> = BTreeMap::new();
    for path in &paths {
        let source =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let document =
            ExecutableDocument::parse_and_validate(schema, source, path).map_err(|e| {
                anyhow::anyhow!(
                    "{} does not match the schema:\n{}",
                    path.display(),
                    e.errors
                )
            })?;
        if document.operations.anonymous.is_some() {
            bail!("{}: every operation needs a name", path.display());
        }
        for (name, operation) in &document.operations.named {
            let mut used = BTreeSet::new();
            collect_fragments(&document, &operation.selection_set, &mut used);
            let mut body = operation.serialize().to_string();
            for fragment in &used {
                if let Some(fragment) = document.fragments.get(fragment.as_str()) {
                    body.push_str("\n\n");
                    body.push_str(&fragment.serialize().to_string());
                }
            }
            let entry = PersistedOperation {
                id: hex(&Sha256::digest(body.as_bytes())),
                name: name.to_string(),
                kind: operation.operation_type.to_string(),
                body,
            };
            if operations.insert(name.to_string(), entry).is_some() {
                bail!(
                    "operation {name} is defined twice (again in {})",
                    path.display()
                );
            }
        }
    }
    Ok(operations.into_values().collect())
}

fn collect_fragments(
    document: &ExecutableDocument,
    selections: &SelectionSet,
    used: &mut BTreeSet<String>,
) {
    for selection in &selections.selections {
        match selection {
            Selection::Field(field) => collect_fragments(document, &field.selection_set, used),
            Selection::InlineFragment(inline) => {
                collect_fragments(document, &inline.selection_set, used)
            }
            Selection::FragmentSpread(spread) => {
                if used.insert(spread.fragment_name.to_string()) {
                    if let Some(fragment) = document.fragments.get(&spread.fragment_name) {
                        collect_fragments(document, &fragment.selection_set, used);
                    }
                }
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Apollo's persisted query manifest (version 1).
pub fn manifest_json(operations: &[PersistedOperation]) -> anyhow::Result<String> {
    #[derive(Serialize)]
    struct Manifest<'a> {
        format: &'static str,
        version: u8,
        operations: &'a [PersistedOperation],
    }
    let mut json = serde_json::to_string_pretty(&Manifest {
        format: "apollo-persisted-query-manifest",
        version: 1,
        operations,
    })?;
    json.push('\n');
    Ok(json)
}
