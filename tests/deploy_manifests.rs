//! deploy/ against the code: no Docker engine or cluster runs here, so every manifest is
//! parsed and what it references is checked against what the code has: configuration keys
//! and files (through the real `Config` type), command lines (through the real CLI parser),
//! environment variables, ports, mounted paths, secrets, labels and health service names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clap::Parser;
use eseal_service::config::Config;
use serde::Deserialize;
use serde_yaml_ng::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    let path = repo().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Every YAML document of a file, with merge keys (`<<: *anchor`) applied.
fn yaml_documents(relative: &str) -> Vec<Value> {
    let text = read(relative);
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| {
            let mut value =
                Value::deserialize(document).unwrap_or_else(|e| panic!("{relative}: {e}"));
            value.apply_merge().unwrap_or_else(|e| panic!("{relative}: merge keys: {e}"));
            value
        })
        .collect()
}

fn yaml(relative: &str) -> Value {
    let mut documents = yaml_documents(relative);
    assert_eq!(documents.len(), 1, "{relative}: one document expected");
    documents.remove(0)
}

fn str_of<'a>(value: &'a Value, what: &str) -> &'a str {
    value.as_str().unwrap_or_else(|| panic!("{what}: expected a string, found {value:?}"))
}

fn strings(value: &Value, what: &str) -> Vec<String> {
    value
        .as_sequence()
        .unwrap_or_else(|| panic!("{what}: expected a list"))
        .iter()
        .map(|v| str_of(v, what).to_string())
        .collect()
}

/// A configuration file of deploy/ parsed by the service's own type (unknown keys are refused
/// there) and checked by its own rules.
fn config_from(text: &str, what: &str) -> Config {
    let config: Config = toml::from_str(text)
        .unwrap_or_else(|e| panic!("{what} is not a valid eseal configuration: {e}"));
    config.check().unwrap_or_else(|e| panic!("{what}: {e}"));
    config
}

fn compose_config() -> Config {
    config_from(&read("deploy/eseal.toml"), "deploy/eseal.toml")
}

fn k8s_config() -> Config {
    let map = yaml("deploy/k8s/configmap.yaml");
    assert_eq!(str_of(&map["kind"], "configmap kind"), "ConfigMap");
    config_from(
        str_of(&map["data"]["eseal.toml"], "configmap data eseal.toml"),
        "the ConfigMap's eseal.toml",
    )
}

fn systemd_config() -> Config {
    config_from(&read("deploy/systemd/eseal.toml"), "deploy/systemd/eseal.toml")
}

/// The port of a `host:port` listen address.
fn port_of(listen: &str) -> u16 {
    listen
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("{listen:?} has no port"))
}

/// The files and folders a configuration makes the service read or write.
fn config_paths(config: &Config) -> Vec<PathBuf> {
    let mut paths = vec![
        config.server.tls_certificate.clone(),
        config.server.tls_key.clone(),
        config.server.client_ca.clone(),
        config.keys.directory.clone(),
    ];
    paths.extend(config.audit.log_key.clone());
    paths.extend(config.audit.log_key_reference.iter().map(|r| config.keys.directory.join(r)));
    paths.extend(config.server.spool_directory.clone());
    paths.extend(config.keys.kek_file.clone());
    paths.extend(config.keys.previous_kek_file.clone());
    if let Some(token) = &config.keys.pkcs11 {
        paths.push(token.module.clone());
        paths.extend(token.pin_file.clone());
    }
    paths.extend(config.verification.trust_anchors.iter().cloned());
    for seed in &config.seed_seals {
        paths.push(seed.image.clone());
        paths.push(seed.certificate_chain.clone());
        paths.push(config.keys.directory.join(&seed.key_reference));
    }
    paths
}

/// Parses a command line with the real CLI; returns the subcommand's name.
fn parses_as_eseal(argv: &[String], what: &str) -> String {
    assert!(
        argv.first().is_some_and(|a| a == "eseal" || a.ends_with("/eseal")),
        "{what}: {argv:?} does not run eseal"
    );
    let mut args = vec!["eseal".to_string()];
    args.extend(argv[1..].iter().cloned());
    eseal::cli::Cli::try_parse_from(&args).unwrap_or_else(|e| {
        panic!("{what}: `{}` is not a valid eseal command line: {e}", args.join(" "))
    });
    argv.get(1).cloned().unwrap_or_default()
}

/// The value following `flag` in a command line.
fn flag_value<'a>(argv: &'a [String], flag: &str) -> Option<&'a str> {
    argv.iter().position(|a| a == flag).and_then(|i| argv.get(i + 1)).map(String::as_str)
}

/// Environment variable names the code reads (string literals in src/ and crates/).
fn variable_is_read_by_the_code(name: &str) -> bool {
    let mut stack = vec![repo().join("src"), repo().join("crates")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("the sources are readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && std::fs::read_to_string(&path).is_ok_and(|t| t.contains(&format!("\"{name}\"")))
            {
                return true;
            }
        }
    }
    false
}

/// Checks one environment variable of a manifest: an `ESEAL__SECTION__KEY` override must name
/// a configuration key and fit it (applied to the configuration file `config_file` by the
/// service's own loader), any other `ESEAL*` variable must be one the code reads.
fn check_variable(name: &str, value: &str, config_file: &Path, what: &str) {
    if name.starts_with("ESEAL__") {
        Config::load_with_overrides(
            Some(config_file),
            &repo(),
            [(name.to_string(), value.to_string())],
        )
        .unwrap_or_else(|e| panic!("{what}: {name}={value}: {e}"));
    } else if name.starts_with("ESEAL") {
        // A variable the configuration names (the KEK's, the PIN's) or one the code reads.
        let config = Config::load_with_overrides(Some(config_file), &repo(), [])
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let named = [
            config.keys.kek_env.as_deref(),
            config.keys.pkcs11.as_ref().and_then(|p| p.pin_env.as_deref()),
        ];
        assert!(
            named.contains(&Some(name)) || variable_is_read_by_the_code(name),
            "{what}: {name} is neither named by the configuration nor read by the code"
        );
    }
}

/// The ConfigMap's configuration written to a file (for the loader).
fn k8s_config_file() -> tempfile::NamedTempFile {
    let map = yaml("deploy/k8s/configmap.yaml");
    let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
    std::io::Write::write_all(
        &mut file,
        str_of(&map["data"]["eseal.toml"], "configmap data").as_bytes(),
    )
    .expect("written");
    file
}

/// The PostgreSQL URL's host and port.
fn url_host_port(url: &str) -> (String, u16) {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    let (host, port) = host_port.rsplit_once(':').unwrap_or((host_port, "5432"));
    (host.to_string(), port.parse().unwrap_or_else(|_| panic!("{url}: bad port")))
}

/// The full names of the gRPC services the proto files define (what health checks may name).
fn proto_services() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for entry in
        std::fs::read_dir(repo().join("proto/eseal/v1")).expect("proto/ is readable").flatten()
    {
        let text = std::fs::read_to_string(entry.path()).expect("a proto file is readable");
        let package = text
            .lines()
            .find_map(|l| l.trim().strip_prefix("package "))
            .map(|p| p.trim_end_matches(';').trim().to_string());
        for line in text.lines() {
            if let Some(rest) = line.trim().strip_prefix("service ") {
                let name = rest.split_whitespace().next().unwrap_or_default();
                names.insert(format!("{}.{name}", package.clone().unwrap_or_default()));
            }
        }
    }
    names
}

/// Whether `path` is at or under one of `mounts`.
fn covered(path: &Path, mounts: &[PathBuf]) -> bool {
    mounts.iter().any(|m| path == m || path.starts_with(m))
}

#[test]
fn configuration_files_are_valid_configurations() {
    for (config, what) in
        [(compose_config(), "compose"), (k8s_config(), "kubernetes"), (systemd_config(), "systemd")]
    {
        assert!(config.metrics.is_some(), "{what}: metrics should be exposed in a deployment");
        for path in config_paths(&config) {
            assert!(
                path.is_absolute(),
                "{what}: {} should be absolute in a deployment",
                path.display()
            );
        }
    }
    // Production manifests never accept plaintext seal keys; only the compose sample over
    // keys-sample/ does, and says so.
    for (config, what) in [(k8s_config(), "kubernetes"), (systemd_config(), "systemd")] {
        assert!(!config.development, "{what}: development = true in a production manifest");
        let k = &config.keys;
        assert!(
            k.kek_file.is_some() || k.kek_env.is_some() || k.pkcs11.is_some(),
            "{what}: seal keys need a KEK or a PKCS#11 token"
        );
        // The audit log's key is kept like the seal keys: an encrypted file of the key folder.
        assert!(
            config.audit.log_key.is_none(),
            "{what}: a plaintext audit log key in a production manifest"
        );
        assert_eq!(config.audit.log_key_reference.as_deref(), Some("audit-log.key"), "{what}");
    }
    assert!(
        compose_config().development && read("deploy/eseal.toml").contains("NOT FOR PRODUCTION")
    );
    // Both nodes of one deployment name the same audit log.
    assert_eq!(compose_config().store.audit_origin, "eseal.example/audit");
}

#[test]
fn dockerfile_builds_from_files_that_exist_and_runs_eseal_unprivileged() {
    let dockerfile = read("deploy/Dockerfile");
    let lines: Vec<&str> = dockerfile.lines().map(str::trim).collect();
    assert!(lines.iter().filter(|l| l.starts_with("FROM ")).count() >= 2, "a multi-stage build");
    for line in lines.iter().filter(|l| l.starts_with("COPY ") && !l.contains("--from=")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        for source in &words[1..words.len() - 1] {
            assert!(
                repo().join(source).exists(),
                "Dockerfile copies {source}, which is not in the repository"
            );
        }
    }
    let user = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("the runtime stage sets USER");
    assert!(!user.starts_with("root") && !user.starts_with("0"), "USER {user} is root");
    let exposed: BTreeSet<u16> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("EXPOSE "))
        .flat_map(|l| l.split_whitespace())
        .map(|p| p.parse().expect("EXPOSE port"))
        .collect();
    let config = compose_config();
    let metrics = config.metrics.as_ref().expect("metrics configured");
    assert_eq!(exposed, BTreeSet::from([port_of(&config.server.listen), port_of(&metrics.listen)]));

    let json_array = |prefix: &str| -> Vec<String> {
        // The last one: a HEALTHCHECK's continuation line starts with "CMD " too.
        let line = lines
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("Dockerfile has no {prefix}"));
        serde_json::from_str(line.trim())
            .unwrap_or_else(|e| panic!("Dockerfile {prefix}: exec form expected: {e}"))
    };
    let mut command = json_array("ENTRYPOINT ");
    command.extend(json_array("CMD "));
    assert_eq!(parses_as_eseal(&command, "Dockerfile ENTRYPOINT + CMD"), "serve");
    assert_eq!(flag_value(&command, "--config"), Some("/etc/eseal/eseal.toml"));
    let health_line =
        dockerfile.split("HEALTHCHECK").nth(1).expect("a HEALTHCHECK").replace("\\\n", " ");
    let health: Vec<String> = serde_json::from_str(
        health_line
            .split("CMD")
            .nth(1)
            .expect("HEALTHCHECK CMD")
            .lines()
            .next()
            .unwrap_or("")
            .trim(),
    )
    .expect("HEALTHCHECK CMD in exec form");
    assert_eq!(parses_as_eseal(&health, "Dockerfile HEALTHCHECK"), "health");
    let env: Vec<(String, String)> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("ENV "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    for (name, value) in env {
        check_variable(&name, &value, &repo().join("deploy/eseal.toml"), "Dockerfile ENV");
    }
}

#[test]
fn compose_topology_refers_to_what_exists() {
    let compose = yaml("deploy/docker-compose.yml");
    let config = compose_config();
    let services = compose["services"].as_mapping().expect("services");
    let names: BTreeSet<String> =
        services.keys().map(|k| str_of(k, "service name").to_string()).collect();
    for needed in ["postgres", "eseal-1", "eseal-2", "envoy"] {
        assert!(names.contains(needed), "docker-compose.yml has no {needed}");
    }
    let metrics_port = port_of(&config.metrics.as_ref().expect("metrics").listen);
    let grpc_port = port_of(&config.server.listen);
    for node in ["eseal-1", "eseal-2"] {
        let service = &compose["services"][node];
        let what = format!("compose {node}");
        let command = strings(&service["command"], &what);
        let mut argv = vec!["eseal".to_string()];
        argv.extend(command);
        assert_eq!(parses_as_eseal(&argv, &what), "serve");
        let config_path = flag_value(&argv, "--config").expect("serve --config");
        assert_eq!(
            str_of(&service["depends_on"]["postgres"]["condition"], &what),
            "service_healthy"
        );

        let mut mounts = Vec::new();
        for volume in strings(&service["volumes"], &what) {
            let parts: Vec<&str> = volume.split(':').collect();
            let source = repo().join("deploy").join(parts[0]);
            assert!(source.exists(), "{what} mounts {}, which does not exist", source.display());
            mounts.push(PathBuf::from(parts[1]));
        }
        assert!(
            mounts.contains(&PathBuf::from(config_path)),
            "{what}: the configuration file is not mounted"
        );
        for path in config_paths(&config) {
            if path == Path::new("/var/lib/eseal/spool") {
                continue; // created in the image (Dockerfile)
            }
            // A folder (the key folder) is there when files are mounted into it.
            let folder_of_mounts = mounts.iter().any(|m| m.starts_with(&path));
            assert!(
                covered(&path, &mounts) || folder_of_mounts,
                "{what}: {} (from deploy/eseal.toml) is not mounted",
                path.display()
            );
        }
        let environment = service["environment"].as_mapping().expect("environment");
        let mut has_url = false;
        for (name, value) in environment {
            let (name, value) = (str_of(name, &what), str_of(value, &what));
            check_variable(name, value, &repo().join("deploy/eseal.toml"), &what);
            if name == "ESEAL__STORE__URL" {
                has_url = true;
                let (host, port) = url_host_port(value);
                assert_eq!(
                    host, "postgres",
                    "{what}: the database URL should name the postgres service"
                );
                assert_eq!(port, 5432);
            }
        }
        assert!(has_url, "{what}: no ESEAL__STORE__URL: the nodes would not share a database");
        let exposed: BTreeSet<u16> =
            strings(&service["expose"], &what).iter().map(|p| p.parse().expect("port")).collect();
        assert_eq!(exposed, BTreeSet::from([grpc_port, metrics_port]), "{what}: exposed ports");
        for published in strings(&service["ports"], &what) {
            assert_eq!(
                published.rsplit(':').next().and_then(|p| p.parse::<u16>().ok()),
                Some(metrics_port),
                "{what}: publishes {published}"
            );
        }
    }
    let envoy = &compose["services"]["envoy"];
    let mounted: Vec<PathBuf> = strings(&envoy["volumes"], "compose envoy")
        .iter()
        .map(|v| {
            let parts: Vec<&str> = v.split(':').collect();
            assert!(
                repo().join("deploy").join(parts[0]).exists(),
                "envoy mounts {}, which does not exist",
                parts[0]
            );
            PathBuf::from(parts[1])
        })
        .collect();
    let envoy_config = yaml("deploy/envoy.yaml");
    let cluster = &envoy_config["static_resources"]["clusters"][0];
    let endpoints = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
        .as_sequence()
        .expect("endpoints");
    let upstreams: BTreeSet<(String, u64)> = endpoints
        .iter()
        .map(|e| {
            let address = &e["endpoint"]["address"]["socket_address"];
            (
                str_of(&address["address"], "envoy endpoint").to_string(),
                address["port_value"].as_u64().expect("port_value"),
            )
        })
        .collect();
    assert_eq!(
        upstreams,
        BTreeSet::from([
            ("eseal-1".to_string(), grpc_port as u64),
            ("eseal-2".to_string(), grpc_port as u64)
        ])
    );
    // The health check's mTLS files are mounted into the envoy container.
    let text = read("deploy/envoy.yaml");
    for file in text.split("filename:").skip(1).map(|r| {
        r.trim()
            .trim_start_matches('{')
            .split([' ', '}', '\n'])
            .find(|s| !s.is_empty())
            .unwrap_or("")
    }) {
        assert!(
            mounted.contains(&PathBuf::from(file)),
            "envoy.yaml reads {file}, which compose does not mount"
        );
    }
}

#[test]
fn envoy_health_checks_ask_a_real_service() {
    let envoy = yaml("deploy/envoy.yaml");
    let services = proto_services();
    assert!(services.contains("eseal.v1.SigningService"), "proto services: {services:?}");
    let cluster = &envoy["static_resources"]["clusters"][0];
    let checks = cluster["health_checks"].as_sequence().expect("health_checks");
    assert!(!checks.is_empty());
    for check in checks {
        let name =
            str_of(&check["grpc_health_check"]["service_name"], "grpc_health_check service_name");
        assert!(
            name.is_empty() || services.contains(name),
            "envoy checks the health of {name}, which is not a service of proto/"
        );
        // The health check speaks mTLS through a transport socket selected for it.
        let criteria = check["transport_socket_match_criteria"]
            .as_mapping()
            .expect("transport_socket_match_criteria");
        let matches =
            cluster["transport_socket_matches"].as_sequence().expect("transport_socket_matches");
        assert!(
            matches.iter().any(|m| m["match"].as_mapping() == Some(criteria)
                && m["transport_socket"]["name"] == "envoy.transport_sockets.tls"),
            "the health check's transport socket is not TLS"
        );
    }
    let listener_port =
        envoy["static_resources"]["listeners"][0]["address"]["socket_address"]["port_value"]
            .as_u64();
    assert_eq!(listener_port, Some(port_of(&compose_config().server.listen) as u64));
}

#[test]
fn kubernetes_manifests_refer_to_what_exists() {
    let config = k8s_config();
    let deployment = yaml("deploy/k8s/deployment.yaml");
    assert_eq!(str_of(&deployment["kind"], "kind"), "Deployment");
    let spec = &deployment["spec"]["template"]["spec"];
    let labels = deployment["spec"]["template"]["metadata"]["labels"].clone();
    assert_eq!(
        deployment["spec"]["selector"]["matchLabels"], labels,
        "the selector matches the pod labels"
    );
    assert!(deployment["spec"]["replicas"].as_u64().unwrap_or(0) >= 2, "several nodes");
    assert_eq!(spec["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    let container = &spec["containers"][0];
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(container["securityContext"]["allowPrivilegeEscalation"].as_bool(), Some(false));

    let mut argv = vec!["eseal".to_string()];
    argv.extend(strings(&container["args"], "container args"));
    assert_eq!(parses_as_eseal(&argv, "deployment args"), "serve");
    let config_path = PathBuf::from(flag_value(&argv, "--config").expect("--config"));

    // Ports: named, and the ones the configuration listens on.
    let ports: BTreeMap<String, u64> = container["ports"]
        .as_sequence()
        .expect("ports")
        .iter()
        .map(|p| {
            (
                str_of(&p["name"], "port name").to_string(),
                p["containerPort"].as_u64().expect("containerPort"),
            )
        })
        .collect();
    assert_eq!(ports.get("grpc").copied(), Some(port_of(&config.server.listen) as u64));
    let metrics_port = port_of(&config.metrics.as_ref().expect("metrics").listen) as u64;
    assert_eq!(ports.get("metrics").copied(), Some(metrics_port));
    let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(str_of(&annotations["prometheus.io/port"], "annotation"), metrics_port.to_string());
    assert_eq!(str_of(&annotations["prometheus.io/path"], "annotation"), "/metrics");

    // Volumes: every file the configuration and the probes use is mounted; secret-backed
    // files are keys of their secret.
    let secrets: BTreeMap<String, BTreeSet<String>> = yaml_documents("deploy/k8s/secrets.yaml")
        .iter()
        .map(|s| {
            assert_eq!(str_of(&s["kind"], "secret kind"), "Secret");
            let keys = s["stringData"]
                .as_mapping()
                .expect("stringData")
                .keys()
                .map(|k| str_of(k, "secret key").to_string())
                .collect();
            (str_of(&s["metadata"]["name"], "secret name").to_string(), keys)
        })
        .collect();
    let volumes: BTreeMap<String, Value> = spec["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .map(|v| (str_of(&v["name"], "volume name").to_string(), v.clone()))
        .collect();
    let mounts: Vec<(PathBuf, String, Option<String>)> = container["volumeMounts"]
        .as_sequence()
        .expect("volumeMounts")
        .iter()
        .map(|m| {
            let name = str_of(&m["name"], "mount name").to_string();
            assert!(volumes.contains_key(&name), "volumeMount {name} has no volume");
            (
                PathBuf::from(str_of(&m["mountPath"], "mountPath")),
                name,
                m["subPath"].as_str().map(String::from),
            )
        })
        .collect();
    // The innermost mount holding `path` (Path::starts_with also matches the mount itself).
    let mount_of = |path: &Path| {
        mounts
            .iter()
            .filter(|(m, _, _)| path.starts_with(m))
            .max_by_key(|(m, _, _)| m.as_os_str().len())
    };
    let check_file = |path: &Path, what: &str| {
        let (mount, volume, sub_path) =
            mount_of(path).unwrap_or_else(|| panic!("{what}: {} is not mounted", path.display()));
        let volume = &volumes[volume];
        if let Some(secret) = volume["secret"]["secretName"].as_str() {
            let keys = secrets
                .get(secret)
                .unwrap_or_else(|| panic!("{what}: secret {secret} is not in secrets.yaml"));
            if path != mount {
                let file = path
                    .strip_prefix(mount)
                    .expect("under the mount")
                    .to_string_lossy()
                    .to_string();
                assert!(
                    keys.contains(&file),
                    "{what}: {} is not a key of secret {secret} ({keys:?})",
                    path.display()
                );
            }
        } else if let Some(map) = volume["configMap"]["name"].as_str() {
            assert_eq!(
                map,
                str_of(&yaml("deploy/k8s/configmap.yaml")["metadata"]["name"], "configmap name")
            );
            assert_eq!(sub_path.as_deref(), Some("eseal.toml"), "{what}: the ConfigMap's file");
        }
    };
    check_file(&config_path, "--config");
    for path in config_paths(&config) {
        check_file(&path, "configuration");
    }
    // What the node writes (the checkpoint witness beside `sqlite_path`, spooled uploads) is
    // on writable volumes: the root file system is read-only.
    let mut written = vec![config.store.sqlite_path.with_extension("checkpoint")];
    written.extend(config.server.spool_directory.iter().map(|d| d.join("upload")));
    for path in written {
        let (_, volume, _) = mount_of(&path).unwrap_or_else(|| {
            panic!("{} is written by the node but not on a volume", path.display())
        });
        assert!(
            volumes[volume]["emptyDir"].is_mapping(),
            "{} is written by the node: volume {volume} must be writable (emptyDir)",
            path.display()
        );
    }
    for probe in ["readinessProbe", "livenessProbe"] {
        let command = strings(&container[probe]["exec"]["command"], probe);
        assert_eq!(parses_as_eseal(&command, probe), "health");
        for flag in ["--cert", "--key", "--ca"] {
            check_file(
                Path::new(
                    flag_value(&command, flag).unwrap_or_else(|| panic!("{probe} has no {flag}")),
                ),
                probe,
            );
        }
        assert_eq!(
            flag_value(&command, "--server").map(|s| s
                .rsplit(':')
                .next()
                .unwrap_or("")
                .to_string()),
            Some(port_of(&config.server.listen).to_string()),
            "{probe} asks the gRPC port"
        );
    }
    assert!(
        config.principals.iter().any(|p| p.name == "health-probe"
            && !p.seal_admin
            && !p.archivist
            && p.department.is_empty()
            && p.custodian.is_empty()),
        "the probe's principal is configured, without any role"
    );
    let grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("terminationGracePeriodSeconds");
    assert!(
        grace * 1000 > config.server.shutdown_grace_ms,
        "the kubelet must wait longer than the drain"
    );

    for document in yaml_documents("deploy/k8s/service.yaml") {
        assert_eq!(document["spec"]["selector"], labels, "the Service selects the pods");
        for port in document["spec"]["ports"].as_sequence().expect("service ports") {
            let target = str_of(&port["targetPort"], "targetPort");
            assert!(
                ports.contains_key(target),
                "Service targets port {target}, which the container does not name"
            );
        }
    }
    let pdb = yaml("deploy/k8s/pdb.yaml");
    assert_eq!(pdb["spec"]["selector"]["matchLabels"], labels);
    assert!(pdb["spec"]["minAvailable"].as_u64().unwrap_or(0) >= 1);
    let config_file = k8s_config_file();
    for variable in container["env"].as_sequence().expect("env") {
        let name = str_of(&variable["name"], "env name");
        if let Some(secret) = variable["valueFrom"]["secretKeyRef"].as_mapping() {
            let secret_name = str_of(&secret[&Value::from("name")], "secretKeyRef name");
            let key = str_of(&secret[&Value::from("key")], "secretKeyRef key");
            assert!(
                secrets.get(secret_name).is_some_and(|k| k.contains(key)),
                "{name}: secret {secret_name} has no key {key}"
            );
            check_variable(
                name,
                "postgres://eseal@db:5432/eseal",
                config_file.path(),
                "deployment env",
            );
        } else {
            check_variable(
                name,
                str_of(&variable["value"], name),
                config_file.path(),
                "deployment env",
            );
        }
    }
}

#[test]
fn systemd_unit_runs_eseal_hardened() {
    let unit = read("deploy/systemd/eseal.service");
    let directives: Vec<(String, String)> = unit
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let get = |key: &str| directives.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let exec: Vec<String> =
        get("ExecStart").expect("ExecStart").split_whitespace().map(String::from).collect();
    assert_eq!(parses_as_eseal(&exec, "ExecStart"), "serve");
    assert_eq!(flag_value(&exec, "--config"), Some("/etc/eseal/eseal.toml"));
    assert_eq!(
        get("ConfigurationDirectory"),
        Some("eseal"),
        "the configuration lives in /etc/eseal"
    );
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("DynamicUser", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("CapabilityBoundingSet", ""),
    ] {
        assert_eq!(get(key), Some(value), "{key}");
    }
    let config = systemd_config();
    let writable: Vec<PathBuf> = directives
        .iter()
        .filter(|(k, _)| k == "ReadWritePaths")
        .flat_map(|(_, v)| v.split_whitespace().map(PathBuf::from))
        .collect();
    // StateDirectory= creates each folder it names (the spool must exist at start).
    let state_dirs: Vec<PathBuf> = get("StateDirectory")
        .expect("StateDirectory")
        .split_whitespace()
        .map(|d| PathBuf::from("/var/lib").join(d))
        .collect();
    let state = state_dirs[0].clone();
    if let Some(spool) = &config.server.spool_directory {
        assert!(
            state_dirs.contains(spool),
            "{} must exist at start: name it in StateDirectory=",
            spool.display()
        );
    }
    let mut needs_writing =
        vec![config.store.sqlite_path.parent().expect("sqlite folder").to_path_buf()];
    needs_writing.extend(config.server.spool_directory.clone());
    for path in needs_writing {
        assert!(
            covered(&path, &writable) || path.starts_with(&state),
            "{} must be writable under ProtectSystem=strict",
            path.display()
        );
    }
    // A dynamic user owns nothing in /etc: every secret reaches it as a credential, and every
    // credential the configuration reads is one the unit loads.
    let credentials: BTreeSet<String> = directives
        .iter()
        .filter(|(k, _)| k == "LoadCredential")
        .map(|(_, v)| v.split(':').next().unwrap_or("").to_string())
        .collect();
    let credential_dir = Path::new("/run/credentials/eseal.service");
    let secrets = [
        Some(&config.server.tls_key),
        config.audit.log_key.as_ref(),
        config.keys.kek_file.as_ref(),
    ];
    for secret in secrets.into_iter().flatten() {
        assert!(
            secret.starts_with(credential_dir),
            "{} is a secret: it must be a LoadCredential= credential",
            secret.display()
        );
    }
    for path in config_paths(&config).iter().filter(|p| p.starts_with(credential_dir)) {
        let name = path
            .strip_prefix(credential_dir)
            .expect("under the credentials")
            .to_string_lossy()
            .to_string();
        assert!(
            credentials.contains(&name),
            "{} is read but the unit loads no credential {name} ({credentials:?})",
            path.display()
        );
    }
    for (key, value) in directives.iter().filter(|(k, _)| k == "Environment") {
        let (name, v) = value.split_once('=').unwrap_or_else(|| panic!("{key}={value}"));
        check_variable(name, v, &repo().join("deploy/systemd/eseal.toml"), "systemd Environment");
    }
}
