//! The layering rules, checked on the source: within every subgraph crate the
//! top-level modules form no cycle; the domain uses no other module of its
//! crate (not the API, the config, the storage or any other adapter: it owns
//! the ports they implement); storage adapters reach neither the API nor the
//! config. `lib.rs`, the composition root, may use everything.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

const CRATES: [&str; 5] = [
    "subgraphs/kit",
    "subgraphs/user",
    "subgraphs/activity",
    "subgraphs/ai",
    "subgraphs/admin",
];

/// The crates whose `domain` module must use nothing else of its crate.
const LAYERED: [&str; 4] = [
    "subgraphs/user",
    "subgraphs/activity",
    "subgraphs/ai",
    "subgraphs/admin",
];

/// `(from, to)`: a module that must not depend on another. `store` and
/// `users` are the admin subgraph's adapters (audit log, user subgraph API).
const FORBIDDEN: [(&str, &str); 6] = [
    ("storage", "graphql"),
    ("storage", "config"),
    ("store", "graphql"),
    ("store", "config"),
    ("users", "graphql"),
    ("users", "config"),
];

type Graph = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a piece of source names through `crate::…`,
/// including each member of a `use crate::{a::…, b, …}` group.
fn crate_references(source: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |text: &str| -> String {
        text.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in source.match_indices("crate::") {
        let rest = &source[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Members at depth 0 of the group.
            let mut depth = 0;
            let mut start_of_member = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start_of_member = true,
                    c if c.is_whitespace() => {}
                    _ if start_of_member && depth == 0 => {
                        let name = ident(&group[i..]);
                        if !name.is_empty() {
                            found.insert(name);
                        }
                        start_of_member = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// Top-level module → the top-level modules it uses (comments included:
/// a doc link is a reference too, and cheap to avoid).
fn module_graph(krate: &Path) -> Graph {
    let src = krate.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph = Graph::new();
    for file in files {
        let relative = file.strip_prefix(&src).expect("under src");
        let first = relative
            .components()
            .next()
            .and_then(|c| c.as_os_str().to_str())
            .unwrap_or_default();
        let module = first.trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "main" || module == "bin" {
            continue;
        }
        let source = std::fs::read_to_string(&file).expect("readable source");
        // Tests may reach anywhere.
        let source = source.split("#[cfg(test)]").next().unwrap_or_default();
        let uses = graph.entry(module.clone()).or_default();
        for used in crate_references(source) {
            if used != module {
                uses.insert(used);
            }
        }
    }
    // Only edges between modules (not to items re-exported at the root).
    let modules: BTreeSet<String> = graph.keys().cloned().collect();
    for uses in graph.values_mut() {
        uses.retain(|used| modules.contains(used));
    }
    graph
}

/// Every cycle's modules (one representative path per strongly connected set).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    fn reach(graph: &Graph, from: &str, to: &str, seen: &mut BTreeSet<String>) -> bool {
        for next in graph.get(from).into_iter().flatten() {
            if next == to {
                return true;
            }
            if seen.insert(next.clone()) && reach(graph, next, to, seen) {
                return true;
            }
        }
        false
    }
    let mut found: Vec<Vec<String>> = Vec::new();
    for (module, uses) in graph {
        for used in uses {
            if module < used && reach(graph, used, module, &mut BTreeSet::new()) {
                found.push(vec![module.clone(), used.clone()]);
            }
        }
    }
    found
}

#[test]
fn no_subgraph_crate_has_a_module_cycle_or_a_forbidden_edge() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut problems = Vec::new();
    for krate in CRATES {
        let graph = module_graph(&root.join(krate));
        assert!(!graph.is_empty(), "{krate}: no modules found");
        for pair in cycles(&graph) {
            problems.push(format!("{krate}: {} ⇄ {} (a cycle)", pair[0], pair[1]));
        }
        if LAYERED.contains(&krate) {
            match graph.get("domain") {
                None => problems.push(format!("{krate}: no domain module")),
                Some(uses) => {
                    for to in uses {
                        problems.push(format!(
                            "{krate}: domain → {to} (the domain uses no adapter)"
                        ));
                    }
                }
            }
        }
        for (from, to) in FORBIDDEN {
            if graph.get(from).is_some_and(|uses| uses.contains(to)) {
                problems.push(format!("{krate}: {from} → {to} (forbidden)"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "layering broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_sees_grouped_and_plain_references_and_finds_cycles() {
    let refs = crate_references(
        "use crate::{config::A, domain::{x, y}, storage};\nlet q = crate::events::QUEUE;",
    );
    let expected: BTreeSet<String> = ["config", "domain", "storage", "events"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(refs, expected);
    let mut graph = Graph::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("c".into());
    graph.entry("c".into()).or_default().insert("a".into());
    assert!(!cycles(&graph).is_empty());
    graph.get_mut("c").expect("c").clear();
    assert!(cycles(&graph).is_empty());
}
