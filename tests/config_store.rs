//! The `[store]` keys of the configuration file: PostgreSQL's url, max_connections and
//! acquire_timeout_ms, their defaults, and the values refused at loading.

use eseal_service::config::Config;

/// The development configuration as a TOML file whose `[store]` table is `store` (the rest
/// unchanged); returns what loading it gives.
fn load_with_store(store: &str) -> Result<Config, String> {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::development(std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
    let mut value: toml::Table = toml::from_str(&toml::to_string(&config).unwrap()).unwrap();
    value.insert("store".into(), toml::Value::Table(toml::from_str(store).unwrap()));
    let file = dir.path().join("eseal.toml");
    std::fs::write(&file, toml::to_string(&value).unwrap()).unwrap();
    Config::load(&file).map_err(|e| e.to_string())
}

#[test]
fn postgres_keys_are_read_and_default() {
    let config = load_with_store(
        r#"sqlite_path = "data/eseal.db"
url = "postgres://eseal:secret@db.example:5432/eseal"
max_connections = 40
acquire_timeout_ms = 500"#,
    )
    .unwrap();
    assert_eq!(config.store.url.as_deref(), Some("postgres://eseal:secret@db.example:5432/eseal"));
    assert_eq!((config.store.max_connections, config.store.acquire_timeout_ms), (40, 500));

    let embedded = load_with_store(r#"sqlite_path = "data/eseal.db""#).unwrap();
    assert_eq!(embedded.store.url, None, "SQLite stays the default");
    assert_eq!((embedded.store.max_connections, embedded.store.acquire_timeout_ms), (16, 3000));
}

#[test]
fn bad_store_values_are_refused_at_loading() {
    let refused = |store: &str, words: &str| {
        let message = load_with_store(store).expect_err(store);
        assert!(message.contains(words), "{store}: {message}");
    };
    refused(
        "sqlite_path = \"x.db\"\nurl = \"mysql://db/eseal\"",
        "store.url must be a PostgreSQL URL",
    );
    refused("sqlite_path = \"x.db\"\nmax_connections = 0", "store.max_connections");
    refused("sqlite_path = \"x.db\"\nacquire_timeout_ms = 0", "store.acquire_timeout_ms");
    refused("sqlite_path = \"x.db\"\npool_size = 3", "pool_size");
}
