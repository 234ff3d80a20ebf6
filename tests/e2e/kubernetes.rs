//! The Kubernetes manifests in `deploy/kubernetes`, rendered as an operator
//! would (`kubectl kustomize` of the base and of the production overlay, the
//! overlay's Secret made from `secrets.env.example`), then checked offline:
//! against the Kubernetes API schemas (`kubernetes-validate --strict`), by
//! checkov's security policies (every check but those README.md lists with
//! a reason), and for what neither tool knows about FitTrack: each service
//! is replicated, budgeted, autoscaled, probed on endpoints it serves, started
//! with a command the binary has, given every secret key it names as a file, and
//! reachable only by the services that call it.

use fittrack_testkit as support;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;
use support::repo_root;

/// `name` on the PATH; `None` skips the test unless CI requires it
/// (`FITTRACK_REQUIRE_KUBERNETES_TOOLS=1`, set by `.ci/run`, which installs
/// kubernetes-validate and checkov; kubectl is on the machine).
fn tool(name: &str) -> Option<PathBuf> {
    support::installed_tool(
        name,
        "FITTRACK_REQUIRE_KUBERNETES_TOOLS",
        ".ci/run installs it",
    )
}

fn manifests_dir() -> PathBuf {
    repo_root().join("deploy/kubernetes")
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creates a directory");
    for entry in std::fs::read_dir(from).expect("reads the manifests") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copies a manifest");
        }
    }
}

/// The overlay rendered from a copy of `deploy/kubernetes` in which the
/// production Secret's files exist as an operator makes them: its keys from
/// `secrets.env.example`, a key file where the signing key goes.
struct Rendered {
    _dir: tempfile::TempDir,
    file: PathBuf,
    documents: Vec<Value>,
}

fn render(kubectl: &Path, overlay: &str) -> Rendered {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let tree = dir.path().join("kubernetes");
    copy_tree(&manifests_dir(), &tree);
    std::fs::copy(
        tree.join("secrets.env.example"),
        tree.join("production/secrets.env"),
    )
    .expect("writes secrets.env");
    std::fs::write(
        tree.join("production/jwt-signing-key.pem"),
        "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n",
    )
    .expect("writes the key file");
    let output = Command::new(kubectl)
        .arg("kustomize")
        .arg(tree.join(overlay))
        .output()
        .expect("kubectl runs");
    assert!(
        output.status.success(),
        "kubectl kustomize {overlay}:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let yaml = String::from_utf8(output.stdout).expect("UTF-8 YAML");
    let file = dir.path().join(format!("{overlay}.yaml"));
    std::fs::write(&file, &yaml).expect("writes the rendering");
    let documents = serde_yaml::Deserializer::from_str(&yaml)
        .map(|document| {
            let value: serde_yaml::Value =
                serde::Deserialize::deserialize(document).expect("a YAML document");
            serde_json::to_value(value).expect("YAML as JSON")
        })
        .filter(|document| !document.is_null())
        .collect();
    Rendered {
        _dir: dir,
        file,
        documents,
    }
}

const OVERLAYS: [&str; 2] = ["base", "production"];

#[test]
fn every_rendered_manifest_validates_against_the_kubernetes_api_schemas() {
    let (Some(kubectl), Some(validate)) = (tool("kubectl"), tool("kubernetes-validate")) else {
        return;
    };
    for overlay in OVERLAYS {
        let rendered = render(&kubectl, overlay);
        assert!(rendered.documents.len() > 30, "{overlay}: too few objects");
        // The oldest Kubernetes we support (a preStop `sleep` needs 1.30)
        // and the newest the schemas know.
        for version in [Some("1.30.0"), None] {
            let mut command = Command::new(&validate);
            command.args(["--strict", "--quiet"]);
            if let Some(version) = version {
                command.args(["--kubernetes-version", version]);
            }
            let output = command
                .arg(&rendered.file)
                .output()
                .expect("kubernetes-validate runs");
            assert!(
                output.status.success(),
                "{overlay} against Kubernetes {version:?}:\n{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
}

#[test]
fn the_rendered_manifests_pass_checkov_but_for_the_findings_written_down() {
    let (Some(kubectl), Some(checkov)) = (tool("kubectl"), tool("checkov")) else {
        return;
    };
    let config = manifests_dir().join(".checkov.yaml");
    let config_text = std::fs::read_to_string(&config).expect("reads .checkov.yaml");
    let skipped: Vec<&str> = config_text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- CKV"))
        .map(|rest| rest.split_whitespace().next().unwrap_or(rest))
        .collect();
    let readme = std::fs::read_to_string(manifests_dir().join("README.md")).expect("a README");
    for check in &skipped {
        let id = format!("CKV{check}");
        assert!(
            readme
                .lines()
                .any(|line| line.contains(&format!("`{id}`")) && line.len() > id.len() + 40),
            "{id} is skipped in .checkov.yaml without a reason in deploy/kubernetes/README.md"
        );
    }
    for overlay in OVERLAYS {
        let rendered = render(&kubectl, overlay);
        let output = Command::new(&checkov)
            .arg("--config-file")
            .arg(&config)
            .arg("--file")
            .arg(&rendered.file)
            .args(["--output", "json"])
            .env("BC_SKIP_MAPPING", "TRUE")
            .output()
            .expect("checkov runs");
        let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
            panic!(
                "checkov on {overlay} printed no report ({e}):\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
        let summary = &report["summary"];
        let failed: Vec<String> = report["results"]["failed_checks"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|check| format!("{} on {}", check["check_id"], check["resource"]))
            .collect();
        assert_eq!(
            summary["failed"], 0,
            "{overlay}: checkov findings {failed:#?}"
        );
        assert_eq!(summary["parsing_errors"], 0, "{overlay}: {summary}");
        assert!(
            summary["passed"].as_u64().unwrap_or(0) > 500,
            "{overlay}: checkov checked too little: {summary}"
        );
    }
}

fn of_kind<'a>(documents: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    documents
        .iter()
        .filter(move |document| document["kind"] == kind)
}

fn name(document: &Value) -> &str {
    document["metadata"]["name"].as_str().unwrap_or_default()
}

fn labels_match(selector: &Value, labels: &Value) -> bool {
    selector
        .as_object()
        .is_some_and(|wanted| wanted.iter().all(|(key, value)| labels[key] == *value))
}

/// Where each service answers its probes, as `kit::server` and hive-router
/// serve them.
fn probe_paths(component: &str) -> (&'static str, &'static str) {
    match component {
        "router" => ("/readiness", "/health"),
        _ => ("/ready", "/health"),
    }
}

#[test]
fn every_service_is_replicated_budgeted_autoscaled_and_probed_where_it_answers() {
    let Some(kubectl) = tool("kubectl") else {
        return;
    };
    let rendered = render(&kubectl, "production");
    let documents = &rendered.documents;
    let deployments: Vec<&Value> = of_kind(documents, "Deployment").collect();
    let names: BTreeSet<&str> = deployments.iter().map(|d| name(d)).collect();
    assert_eq!(
        names,
        BTreeSet::from(["router", "user", "activity", "ai", "admin", "worker"])
    );
    let fittrack = support::fittrack_binary();
    for deployment in &deployments {
        let component = name(deployment);
        let spec = &deployment["spec"];
        let pod = &spec["template"]["spec"];
        let labels = &spec["template"]["metadata"]["labels"];
        assert!(
            spec["replicas"].as_u64() >= Some(2),
            "{component}: replicas"
        );
        assert!(
            labels_match(&spec["selector"]["matchLabels"], labels),
            "{component}: its selector misses its pods"
        );
        assert!(
            of_kind(documents, "PodDisruptionBudget")
                .any(|pdb| labels_match(&pdb["spec"]["selector"]["matchLabels"], labels)),
            "{component}: no PodDisruptionBudget"
        );
        let hpa = of_kind(documents, "HorizontalPodAutoscaler")
            .find(|hpa| hpa["spec"]["scaleTargetRef"]["name"] == component)
            .unwrap_or_else(|| panic!("{component}: no HorizontalPodAutoscaler"));
        assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment");
        assert!(hpa["spec"]["minReplicas"].as_u64() >= Some(2));
        assert!(
            pod["terminationGracePeriodSeconds"].as_u64() >= Some(30),
            "{component}: too short a grace period to drain"
        );

        let containers = pod["containers"].as_array().expect("containers");
        assert_eq!(containers.len(), 1, "{component}: one container");
        let container = &containers[0];
        let ports: BTreeSet<&str> = container["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|port| port["name"].as_str())
            .collect();
        let (ready, live) = probe_paths(component);
        for (probe, path) in [("readinessProbe", ready), ("livenessProbe", live)] {
            let get = &container[probe]["httpGet"];
            assert_eq!(get["path"], path, "{component}: {probe}");
            let port = get["port"].as_str().unwrap_or_default();
            assert!(ports.contains(port), "{component}: {probe} on {port:?}");
        }
        for limit in ["requests", "limits"] {
            for resource in ["cpu", "memory"] {
                assert!(
                    container["resources"][limit][resource].is_string(),
                    "{component}: no {limit}.{resource}"
                );
            }
        }

        // The command is one the binary has: clap refuses an unknown one.
        let args: Vec<&str> = container["args"]
            .as_array()
            .expect("args")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let status = Command::new(&fittrack)
            .args(&args)
            .arg("--help")
            .output()
            .expect("fittrack runs");
        assert!(
            status.status.success(),
            "{component}: `fittrack {}` is not a command:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&status.stderr)
        );
    }
}

#[test]
fn credentials_are_files_of_the_secret_and_every_key_named_exists() {
    let Some(kubectl) = tool("kubectl") else {
        return;
    };
    let rendered = render(&kubectl, "production");
    let documents = &rendered.documents;
    let secrets: BTreeMap<&str, BTreeSet<String>> = of_kind(documents, "Secret")
        .map(|secret| {
            let keys = secret["data"]
                .as_object()
                .map(|data| data.keys().cloned().collect())
                .unwrap_or_default();
            (name(secret), keys)
        })
        .collect();
    assert_eq!(secrets.len(), 1, "one Secret: {secrets:?}");

    let mut named = 0;
    for workload in of_kind(documents, "Deployment").chain(of_kind(documents, "Job")) {
        let pod = &workload["spec"]["template"]["spec"];
        // Each key of the Secret a pod mounts, by the volume that holds it.
        let mut mounted: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
        for volume in pod["volumes"].as_array().into_iter().flatten() {
            let secret = &volume["secret"];
            for item in secret["items"].as_array().into_iter().flatten() {
                named += 1;
                let source = secret["secretName"].as_str().unwrap_or_default();
                let key = item["key"].as_str().unwrap_or_default();
                assert!(
                    secret["optional"] != true
                        && secrets.get(source).is_some_and(|keys| keys.contains(key)),
                    "{}: {source}/{key} does not exist (secrets.env.example lists the keys)",
                    name(workload)
                );
                mounted
                    .entry(volume["name"].as_str().unwrap_or_default())
                    .or_default()
                    .push((
                        key.to_owned(),
                        item["path"].as_str().unwrap_or_default().to_owned(),
                    ));
            }
        }
        for container in pod["containers"].as_array().into_iter().flatten() {
            let files: BTreeSet<String> = container["volumeMounts"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|mount| {
                    let at = mount["mountPath"].as_str().unwrap_or_default();
                    mounted
                        .get(mount["name"].as_str().unwrap_or_default())
                        .into_iter()
                        .flatten()
                        .map(move |(_, path)| format!("{at}/{path}"))
                })
                .collect();
            for variable in container["env"].as_array().into_iter().flatten() {
                let variable_name = variable["name"].as_str().unwrap_or_default();
                // A credential in the environment is in every process dump.
                assert!(
                    variable["valueFrom"]["secretKeyRef"].is_null(),
                    "{}: {variable_name} comes from the Secret as an environment variable; \
                     mount it and set {variable_name}_FILE",
                    name(workload)
                );
                if variable_name.ends_with("_FILE") {
                    let path = variable["value"].as_str().unwrap_or_default();
                    assert!(
                        files.contains(path),
                        "{}: {variable_name}={path} is no file of the Secret the pod mounts \
                         ({files:?})",
                        name(workload)
                    );
                }
            }
        }
    }
    assert!(named >= 18, "only {named} secret keys mounted");

    // Nothing that unlocks anything sits in a ConfigMap.
    for config in of_kind(documents, "ConfigMap") {
        for (key, value) in config["data"].as_object().into_iter().flatten() {
            let value = value.as_str().unwrap_or_default();
            let secret_like = ["TOKEN", "PASSWORD", "SECRET", "_KEY", "DATABASE_URL"]
                .iter()
                .any(|word| key.contains(word))
                || ["MONGODB_URI", "REDIS_URL", "SMTP_URL"].contains(&key.as_str());
            let credentials_in_url = value.contains("://") && value.contains('@');
            assert!(
                !secret_like && !credentials_in_url,
                "{} holds {key}, which belongs in the Secret",
                name(config)
            );
        }
    }
}

#[test]
fn only_the_router_is_public_and_only_callers_reach_each_service() {
    let Some(kubectl) = tool("kubectl") else {
        return;
    };
    let rendered = render(&kubectl, "production");
    let documents = &rendered.documents;
    let policies: Vec<&Value> = of_kind(documents, "NetworkPolicy").collect();
    assert!(
        policies.iter().any(|policy| {
            policy["spec"]["podSelector"]
                .as_object()
                .is_some_and(|selector| selector.is_empty())
                && policy["spec"]["policyTypes"]
                    .as_array()
                    .is_some_and(|types| types.iter().any(|t| t == "Ingress"))
                && policy["spec"]["ingress"].is_null()
        }),
        "no default deny of ingress"
    );
    // Which components may open a connection to each one's service port
    // (Prometheus's namespace aside).
    let callers = |component: &str| -> Option<BTreeSet<String>> {
        let mut peers = BTreeSet::new();
        let mut anyone = false;
        for policy in &policies {
            if policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
                != component
            {
                continue;
            }
            for rule in policy["spec"]["ingress"].as_array().into_iter().flatten() {
                let Some(from) = rule["from"].as_array() else {
                    anyone = true;
                    continue;
                };
                for peer in from {
                    if let Some(caller) =
                        peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"].as_str()
                    {
                        peers.insert(caller.to_owned());
                    } else {
                        assert_eq!(
                            peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
                            "monitoring",
                            "{component}: an unexpected peer {peer}"
                        );
                    }
                }
            }
        }
        (!anyone).then_some(peers)
    };
    let set = |names: &[&str]| names.iter().map(|n| n.to_string()).collect();
    assert_eq!(callers("router"), None, "the router is the public entry");
    assert_eq!(callers("activity"), Some(set(&["router"])));
    assert_eq!(callers("ai"), Some(set(&["router"])));
    assert_eq!(callers("admin"), Some(set(&["router", "user"])));
    assert_eq!(
        callers("user"),
        Some(set(&["activity", "admin", "ai", "router", "worker"]))
    );
    assert_eq!(callers("worker"), Some(set(&[])), "Prometheus only");
    let services: Vec<&str> = of_kind(documents, "Service").map(name).collect();
    for service in of_kind(documents, "Service") {
        assert!(
            service["spec"]["type"].is_null() || service["spec"]["type"] == "ClusterIP",
            "{} is exposed outside the cluster: an Ingress or the overlay does that",
            name(service)
        );
    }
    assert_eq!(services.len(), 5, "{services:?}");
}
