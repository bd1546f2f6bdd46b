use std::process::Command;

use reqwest::Method;

use crate::helpers::{fresh_database, spawn_app_on};

#[tokio::test]
async fn keys_create_prints_a_working_key_once() {
    let database_url = fresh_database().await;
    let output = Command::new(env!("CARGO_BIN_EXE_attrib"))
        .args(["keys", "create", "--name", "cli", "--scope", "admin"])
        .env("ATTRIB_DATABASE_URL", &database_url)
        .env("ATTRIB_LOG", "warn")
        .output()
        .expect("run attrib");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let key = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert!(key.starts_with("atk_"), "stdout is just the key: {key:?}");

    let app = spawn_app_on(&database_url, &[]).await;
    app.send(Method::GET, "/v1/campaigns", Some(&key), None)
        .await
        .assert_status(200);
}

#[tokio::test]
async fn a_bad_setting_stops_the_binary_with_a_message_naming_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_attrib"))
        .arg("migrate")
        .env("ATTRIB_LISTEN", "not-an-address")
        .output()
        .expect("run attrib");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ATTRIB_LISTEN"), "{stderr}");
}

#[tokio::test]
async fn a_damaged_geoip_database_is_refused_at_start_up() {
    let broken = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/geoip/GeoIP2-City-Test-Broken-Double-Format.mmdb"
    );
    let output = Command::new(env!("CARGO_BIN_EXE_attrib"))
        .arg("migrate")
        .env("ATTRIB_GEOIP_DB", broken)
        .output()
        .expect("run attrib");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ATTRIB_GEOIP_DB") && stderr.contains("damaged"),
        "{stderr}"
    );
}

#[tokio::test]
async fn the_secret_of_a_bad_bootstrap_key_is_not_printed() {
    let output = Command::new(env!("CARGO_BIN_EXE_attrib"))
        .arg("migrate")
        .env("ATTRIB_BOOTSTRAP_ADMIN_KEY", "too-short-secret")
        .output()
        .expect("run attrib");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("ATTRIB_BOOTSTRAP_ADMIN_KEY"), "{stderr}");
    assert!(!stderr.contains("too-short-secret"), "{stderr}");
}
