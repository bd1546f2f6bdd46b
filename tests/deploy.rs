//! `deploy/` checked as far as a machine without a container engine or a cluster can: every
//! YAML file parses, every `ATTRIB_*` variable the files set is one the README documents,
//! every probe and scrape path is a route the server (or the worker) serves, grace periods
//! outlast the shutdown timeout, the image builds with the README's command, and Redis is
//! configured as "Guarantees" assumes.

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

use yaml_rust2::{Yaml, YamlLoader};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    fs::read_to_string(root().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("deploy/ exists") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path
            .extension()
            .is_some_and(|ext| ext == "yml" || ext == "yaml")
        {
            out.push(path);
        }
    }
}

/// Every document of every YAML file under `deploy/`, by file.
fn documents() -> Vec<(PathBuf, Vec<Yaml>)> {
    let mut files = Vec::new();
    yaml_files(&root().join("deploy"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = fs::read_to_string(&path).expect("readable");
            let docs = YamlLoader::load_from_str(&text)
                .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
            assert!(!docs.is_empty(), "{} is empty", path.display());
            (path, docs)
        })
        .collect()
}

/// Every (key, value) of every mapping in `node`, depth first.
fn pairs<'a>(node: &'a Yaml, out: &mut Vec<(&'a str, &'a Yaml)>) {
    match node {
        Yaml::Hash(hash) => {
            for (key, value) in hash {
                if let Some(key) = key.as_str() {
                    out.push((key, value));
                }
                pairs(value, out);
            }
        }
        Yaml::Array(items) => items.iter().for_each(|item| pairs(item, out)),
        _ => {}
    }
}

fn all_pairs(docs: &[(PathBuf, Vec<Yaml>)]) -> Vec<(&str, &Yaml)> {
    let mut out = Vec::new();
    for (_, file) in docs {
        for doc in file {
            pairs(doc, &mut out);
        }
    }
    out
}

/// The variables of the README's configuration table.
fn documented_variables() -> BTreeSet<String> {
    read("README.md")
        .lines()
        .filter_map(|line| line.strip_prefix("| `ATTRIB_"))
        .filter_map(|rest| rest.split('`').next())
        .map(|name| format!("ATTRIB_{name}"))
        .collect()
}

#[test]
fn every_attrib_variable_deploy_sets_is_in_the_configuration_reference() {
    let docs = documents();
    let mut set = BTreeSet::new();
    for (key, value) in all_pairs(&docs) {
        if key.starts_with("ATTRIB_") {
            set.insert(key.to_owned());
        }
        // Kubernetes' `env: [{name: ATTRIB_…, value: …}]`.
        if key == "name" {
            if let Some(name) = value.as_str().filter(|n| n.starts_with("ATTRIB_")) {
                set.insert(name.to_owned());
            }
        }
    }
    for line in read("deploy/Dockerfile").lines() {
        for word in line.split_whitespace() {
            if let Some((name, _)) = word
                .split_once('=')
                .filter(|(n, _)| n.starts_with("ATTRIB_"))
            {
                set.insert(name.to_owned());
            }
        }
    }
    assert!(set.len() >= 10, "too few variables found: {set:?}");
    let documented = documented_variables();
    let unknown: Vec<_> = set.difference(&documented).collect();
    assert!(
        unknown.is_empty(),
        "set in deploy/ but not in the README: {unknown:?}"
    );
}

#[test]
fn every_probe_and_scrape_path_is_a_route_that_is_served() {
    let served: BTreeSet<String> = attrib::http::routes::registered(&attrib::http::sections())
        .into_iter()
        .filter(|(method, _)| method.as_str() == "GET")
        .map(|(_, path)| path)
        .collect();
    let docs = documents();
    let mut paths = Vec::new();
    for (key, value) in all_pairs(&docs) {
        match key {
            "httpGet" => paths.push(value["path"].as_str().expect("a probe path").to_owned()),
            "prometheus.io/path" | "metrics_path" => {
                paths.push(value.as_str().expect("a path").to_owned())
            }
            _ => {}
        }
    }
    let dockerfile = read("deploy/Dockerfile");
    let health = dockerfile
        .split("http://127.0.0.1:8080")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a HEALTHCHECK URL");
    paths.push(health.to_owned());
    assert!(paths.iter().any(|p| p == "/readyz"), "{paths:?}");
    assert!(paths.iter().any(|p| p == "/healthz"), "{paths:?}");
    for path in &paths {
        assert!(served.contains(path), "{path} is probed but not served");
    }
    // The worker serves these two itself (ATTRIB_METRICS_LISTEN).
    let worker = read("src/http/worker_probes.rs");
    for path in ["/healthz", "/metrics"] {
        assert!(
            worker.contains(&format!("\"{path}\"")),
            "the worker serves {path}"
        );
    }
}

/// Seconds of a duration as compose writes it (`40s`, `1m30s`) or a plain number.
fn seconds(raw: &str) -> u64 {
    let mut total = 0;
    let mut number = String::new();
    for c in raw.chars() {
        match c {
            '0'..='9' => number.push(c),
            'm' => total += 60 * number.drain(..).as_str().parse::<u64>().unwrap(),
            's' => total += number.drain(..).as_str().parse::<u64>().unwrap(),
            _ => panic!("unexpected duration {raw}"),
        }
    }
    total + number.parse::<u64>().unwrap_or(0)
}

#[test]
fn grace_periods_outlast_the_shutdown_timeout() {
    let docs = documents();
    let pairs = all_pairs(&docs);
    let timeouts: Vec<u64> = pairs
        .iter()
        .filter(|(key, _)| *key == "ATTRIB_SHUTDOWN_TIMEOUT_SECONDS")
        .map(|(_, value)| {
            value
                .as_str()
                .expect("a quoted number")
                .parse()
                .expect("a number")
        })
        .collect();
    assert!(!timeouts.is_empty());
    let longest = timeouts.into_iter().max().unwrap_or(30);
    let graces: Vec<u64> = pairs
        .iter()
        .filter_map(|(key, value)| match *key {
            "terminationGracePeriodSeconds" => value.as_i64().map(|s| s as u64),
            "stop_grace_period" => value.as_str().map(seconds),
            _ => None,
        })
        .collect();
    assert!(graces.len() >= 3, "{graces:?}");
    for grace in graces {
        assert!(
            grace > longest,
            "a grace period of {grace} s for a {longest} s shutdown"
        );
    }
}

#[test]
fn the_image_builds_with_the_readmes_command_and_runs_as_a_user_with_a_spool_volume() {
    let command = "cargo build --release";
    assert!(read("README.md").contains(&format!("`{command}`")));
    assert!(read("scripts/run.sh").contains(command));
    let dockerfile = read("deploy/Dockerfile");
    let lines: Vec<&str> = dockerfile.lines().map(str::trim).collect();
    assert!(
        lines.contains(&format!("RUN {command}").as_str()),
        "{dockerfile}"
    );
    assert!(
        lines.iter().filter(|l| l.starts_with("FROM ")).count() >= 2,
        "multi-stage"
    );
    assert!(lines
        .iter()
        .any(|l| l.starts_with("USER ") && !l.ends_with("root")));
    assert!(lines.contains(&"ENTRYPOINT [\"attrib\"]"));
    assert!(lines.iter().any(|l| l.starts_with("HEALTHCHECK")));
    assert!(lines.contains(&"VOLUME /var/lib/attrib/spool"));
    assert!(lines
        .iter()
        .any(|l| l.contains("ATTRIB_SPOOL_DIR=/var/lib/attrib/spool")));
}

#[test]
fn compose_runs_every_part_with_a_redis_that_keeps_clicks() {
    let text = read("deploy/docker-compose.yml");
    let compose = &YamlLoader::load_from_str(&text).expect("compose parses")[0];
    let services = &compose["services"];
    for service in [
        "postgres",
        "redis",
        "migrate",
        "api",
        "worker",
        "prometheus",
    ] {
        assert!(!services[service].is_badvalue(), "no {service} service");
    }
    let command = |service: &str| -> Vec<String> {
        services[service]["command"]
            .as_vec()
            .unwrap_or_else(|| panic!("{service} has a command list"))
            .iter()
            .filter_map(|c| c.as_str().map(str::to_owned))
            .collect()
    };
    let redis = command("redis").join(" ");
    for setting in [
        "--appendonly yes",
        "--appendfsync everysec",
        "--maxmemory-policy noeviction",
    ] {
        assert!(redis.contains(setting), "redis: {redis}");
    }
    assert_eq!(command("migrate"), ["migrate"]);
    assert_eq!(command("api"), ["serve"]);
    assert_eq!(command("worker"), ["worker"]);
    let profiles = services["prometheus"]["profiles"]
        .as_vec()
        .expect("profiles");
    assert!(profiles.iter().any(|p| p.as_str() == Some("monitoring")));
    let prometheus = read("deploy/prometheus.yml");
    assert!(prometheus.contains("\"api\"") && prometheus.contains("\"worker\""));
}

#[test]
fn the_kustomization_lists_files_that_exist_and_every_kind_the_base_needs() {
    let text = read("deploy/k8s/kustomization.yaml");
    let kustomization = &YamlLoader::load_from_str(&text).expect("parses")[0];
    let mut kinds = BTreeSet::new();
    for resource in kustomization["resources"].as_vec().expect("resources") {
        let file = resource.as_str().expect("a file name");
        let text = read(&format!("deploy/k8s/{file}"));
        for doc in YamlLoader::load_from_str(&text).expect("parses") {
            kinds.insert(doc["kind"].as_str().expect("a kind").to_owned());
        }
    }
    for kind in [
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Job",
        "ConfigMap",
        "Secret",
    ] {
        assert!(kinds.contains(kind), "no {kind}: {kinds:?}");
    }
    let secret = read("deploy/k8s/secret.yaml");
    for name in [
        "ATTRIB_CLICK_SECRET",
        "ATTRIB_BOOTSTRAP_ADMIN_KEY",
        "ATTRIB_DATABASE_URL",
    ] {
        assert!(secret.contains(name), "the secret holds {name}");
    }
    let api = read("deploy/k8s/api-deployment.yaml");
    assert!(api.contains("emptyDir"), "the spool on an emptyDir");
}
