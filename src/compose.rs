//! `fittrack compose`: exports subgraph SDLs from code and composes the supergraph
//! from `supergraph.yaml` (rover's format) with the `apollo-federation` crate.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context as _};
use apollo_federation::{
    composition::{compose, CompositionOptions},
    subgraph::typestate::Subgraph,
};
use serde::Deserialize;

use crate::subgraphs::SUBGRAPHS;

#[derive(clap::Args, Default)]
pub struct ComposeArgs {
    /// Composition config (rover's supergraph.yaml format).
    #[arg(long, default_value = "supergraph.yaml")]
    pub config: PathBuf,
    /// Where the composed supergraph goes.
    #[arg(long, default_value = "schema/supergraph.graphql")]
    pub output: PathBuf,
    /// The schema clients see (the supergraph without federation's machinery).
    #[arg(long, default_value = "schema/api.graphql")]
    pub api_schema: PathBuf,
    /// Client operations, validated against the API schema.
    #[arg(long, default_value = "clients/operations")]
    pub operations: PathBuf,
    /// The persisted-documents manifest generated from `--operations`.
    #[arg(long, default_value = "clients/persisted-documents.json")]
    pub manifest: PathBuf,
    /// Write nothing; fail when the files on disk differ from what the code exports.
    #[arg(long)]
    pub check: bool,
}

/// `supergraph.yaml`.
#[derive(Debug, Deserialize)]
pub struct SupergraphConfig {
    #[serde(default)]
    pub federation_version: Option<String>,
    pub subgraphs: BTreeMap<String, SubgraphEntry>,
}

#[derive(Debug, Deserialize)]
pub struct SubgraphEntry {
    pub routing_url: String,
    pub schema: SchemaSource,
}

#[derive(Debug, Deserialize)]
pub struct SchemaSource {
    pub file: PathBuf,
}

impl SupergraphConfig {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

/// The SDL a subgraph exports from code, by its `supergraph.yaml` name.
pub fn exported_sdl(id: &str) -> Option<String> {
    SUBGRAPHS.iter().find(|s| s.id == id).map(|s| (s.sdl)())
}

/// Composes the subgraphs listed in `config`, taking each one's SDL from `sdl_of`.
pub fn compose_supergraph(
    config: &SupergraphConfig,
    mut sdl_of: impl FnMut(&str, &SubgraphEntry) -> anyhow::Result<String>,
) -> anyhow::Result<String> {
    let mut subgraphs = Vec::new();
    for (name, entry) in &config.subgraphs {
        let sdl = sdl_of(name, entry)?;
        let subgraph = Subgraph::parse(name, &entry.routing_url, &sdl)
            .map_err(|e| anyhow::anyhow!("subgraph {name} is not valid GraphQL:\n{e}"))?;
        subgraphs.push(subgraph);
    }
    match compose(subgraphs, CompositionOptions::default()) {
        Ok(supergraph) => Ok(supergraph.schema().schema().to_string()),
        Err(failure) => {
            let mut report = String::from("composition failed:\n");
            for error in &failure.errors {
                report.push_str(&format!("  - {error}\n"));
            }
            bail!(report)
        }
    }
}

pub fn run(args: &ComposeArgs) -> anyhow::Result<()> {
    let config = SupergraphConfig::load(&args.config)?;
    let base = args.config.parent().unwrap_or(Path::new("."));
    let mut drift = Vec::new();
    let supergraph = compose_supergraph(&config, |name, entry| {
        let path = base.join(&entry.schema.file);
        let Some(sdl) = exported_sdl(name) else {
            // Not built by this workspace: take the file as it is.
            return std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()));
        };
        sync_file(&path, &sdl, args.check, &mut drift)?;
        Ok(sdl)
    })?;
    sync_file(&args.output, &supergraph, args.check, &mut drift)?;
    let api = crate::operations::api_schema(&supergraph)?;
    sync_file(&args.api_schema, &api.to_string(), args.check, &mut drift)?;
    let operations = crate::operations::load(&api, &args.operations)?;
    let manifest = crate::operations::manifest_json(&operations)?;
    sync_file(&args.manifest, &manifest, args.check, &mut drift)?;
    if !drift.is_empty() {
        bail!(
            "generated files are out of date; run `cargo run -- compose`:\n  {}",
            drift.join("\n  ")
        );
    }
    if !args.check {
        println!(
            "composed {}, {} and {} ({} operations)",
            args.output.display(),
            args.api_schema.display(),
            args.manifest.display(),
            operations.len()
        );
    }
    Ok(())
}

/// Writes `content` to `path`, or in check mode records that it differs.
fn sync_file(
    path: &Path,
    content: &str,
    check: bool,
    drift: &mut Vec<String>,
) -> anyhow::Result<()> {
    let current = std::fs::read_to_string(path).ok();
    if current.as_deref() == Some(content) {
        return Ok(());
    }
    if check {
        drift.push(path.display().to_string());
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, content).with_context(|| format!("writing {}", path.display()))
}
