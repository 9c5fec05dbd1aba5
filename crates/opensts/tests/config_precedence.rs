//! Settings precedence end to end: flag > environment > config file > default, checked with
//! `opensts serve --print-config` (prints the effective settings and exits).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;

fn temp_file(name: &str, content: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("opensts-config-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path
}

fn print_config(args: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_opensts"));
    cmd.arg("serve").arg("--print-config").args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("OPENSTS_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn flag_beats_env_beats_file_beats_default() {
    let file = temp_file(
        "opensts.toml",
        "region = \"eu-west-1\"\nrate-per-account = 7\nburst-per-source = 70\nlisten = \"127.0.0.1:9999\"\naudit-log = \"-\"\n",
    );
    let file = file.to_str().unwrap();

    let defaults = print_config(&[], &[]);
    assert_eq!(defaults["region"], "us-east-1");
    assert_eq!(defaults["rate-per-account"], 600.0);
    assert_eq!(defaults["audit-log"], serde_json::Value::Null);

    let c = print_config(
        &["--config", file, "--rate-per-account", "9"],
        &[
            ("OPENSTS_REGION", "ap-south-1"),
            ("OPENSTS_BURST_PER_SOURCE", "71"),
        ],
    );
    assert_eq!(c["region"], "ap-south-1", "env > file");
    assert_eq!(c["rate-per-account"], 9.0, "flag > file");
    assert_eq!(c["burst-per-source"], 71, "env > file");
    assert_eq!(c["listen"], "127.0.0.1:9999", "file > default");
    assert_eq!(c["audit-log"], "-", "file > default");

    // flag > env; the file named by OPENSTS_CONFIG.
    let c = print_config(
        &["--region", "sa-east-1"],
        &[("OPENSTS_REGION", "ap-south-1"), ("OPENSTS_CONFIG", file)],
    );
    assert_eq!(c["region"], "sa-east-1");
    assert_eq!(c["rate-per-account"], 7.0);
}

#[test]
fn unknown_setting_is_an_error() {
    let file = temp_file("bad.toml", "lisen = \"127.0.0.1:1\"\n");
    let out = Command::new(env!("CARGO_BIN_EXE_opensts"))
        .args([
            "serve",
            "--print-config",
            "--config",
            file.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown setting `lisen`"));
}
