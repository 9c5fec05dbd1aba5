//! The TOML configuration file (`--config FILE` / `OPENSTS_CONFIG`).
//!
//! Keys are the long flag names (`listen = "0.0.0.0:8080"`, `rate-per-account = 50`;
//! `snake_case` spellings are accepted too). Precedence is **flag > environment > file >
//! default**: clap already gives a flag precedence over its `OPENSTS_*` variable; a value from
//! the file is applied only to arguments that neither the command line nor the environment set
//! ([`clap::ArgMatches::value_source`]). File values are passed back through clap as
//! `--name=value`, so they are parsed and validated exactly like flags.
//!
//! One file can serve every subcommand: a key that belongs to another subcommand (e.g. `listen`
//! when running `opensts keys list`) is ignored; a key no subcommand knows is an error.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::Path;

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, Command};

/// The name of the config-file argument itself (not settable from the file).
pub const CONFIG_ARG: &str = "config";

/// Read and parse the file.
pub fn load(path: &Path) -> Result<toml::Table, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("config file {}: {e}", path.display()))?;
    text.parse::<toml::Table>()
        .map_err(|e| format!("config file {}: {e}", path.display()))
}

/// Every long flag name anywhere in the command tree.
fn all_longs(cmd: &Command, out: &mut BTreeSet<String>) {
    for a in cmd.get_arguments() {
        if let Some(l) = a.get_long() {
            out.insert(l.to_string());
        }
    }
    for sub in cmd.get_subcommands() {
        all_longs(sub, out);
    }
}

/// The command path actually invoked (root, subcommand, …) with the matches of its leaf.
fn leaf<'a>(root: &'a Command, matches: &'a ArgMatches) -> (Vec<&'a Command>, &'a ArgMatches) {
    let mut chain = vec![root];
    let mut cmd = root;
    let mut m = matches;
    while let Some((name, sub_m)) = m.subcommand() {
        let Some(sub) = cmd.find_subcommand(name) else {
            break;
        };
        chain.push(sub);
        cmd = sub;
        m = sub_m;
    }
    (chain, m)
}

fn value_text(key: &str, v: &toml::Value) -> Result<String, String> {
    match v {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        _ => Err(format!(
            "config file: `{key}` must be a string, number or boolean"
        )),
    }
}

/// The arguments to append to the command line so that the file's values apply where neither a
/// flag nor an environment variable set the argument. `root` must be the command `matches` was
/// parsed with.
pub fn file_args(
    root: &Command,
    matches: &ArgMatches,
    table: &toml::Table,
) -> Result<Vec<OsString>, String> {
    let (chain, leaf_matches) = leaf(root, matches);
    let mut known = BTreeSet::new();
    all_longs(root, &mut known);
    let mut out = Vec::new();
    for (raw_key, value) in table {
        let key = raw_key.replace('_', "-");
        if key == CONFIG_ARG {
            return Err("config file: `config` cannot be set from the config file".into());
        }
        let arg = chain
            .iter()
            .flat_map(|c| c.get_arguments())
            .find(|a| a.get_long() == Some(key.as_str()));
        let Some(arg) = arg else {
            if known.contains(&key) {
                continue; // a setting of another subcommand
            }
            return Err(format!("config file: unknown setting `{raw_key}`"));
        };
        let id = arg.get_id().as_str();
        if matches!(
            leaf_matches.value_source(id),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        match arg.get_action() {
            ArgAction::SetTrue => match value {
                toml::Value::Boolean(true) => out.push(OsString::from(format!("--{key}"))),
                toml::Value::Boolean(false) => {}
                _ => return Err(format!("config file: `{raw_key}` must be true or false")),
            },
            _ => {
                let text = value_text(raw_key, value)?;
                out.push(OsString::from(format!("--{key}={text}")));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use clap::Arg;

    fn cmd() -> Command {
        Command::new("t")
            .arg(Arg::new("config").long("config").global(true))
            .subcommand(
                Command::new("serve")
                    .arg(
                        Arg::new("listen")
                            .long("listen")
                            .default_value("127.0.0.1:8080"),
                    )
                    .arg(Arg::new("region").long("region").default_value("us-east-1"))
                    .arg(
                        Arg::new("rate_per_account")
                            .long("rate-per-account")
                            .value_parser(clap::value_parser!(f64))
                            .default_value("600"),
                    )
                    .arg(
                        Arg::new("print_config")
                            .long("print-config")
                            .action(ArgAction::SetTrue),
                    )
                    .arg(Arg::new("data_dir").long("data-dir")),
            )
            .subcommand(Command::new("keys").arg(Arg::new("purpose").long("purpose")))
    }

    fn effective(argv: &[&str], toml_text: &str) -> Result<ArgMatches, String> {
        let root = cmd();
        let first = root.clone().try_get_matches_from(argv).unwrap();
        let table: toml::Table = toml_text.parse().unwrap();
        let extra = file_args(&root, &first, &table)?;
        let mut all: Vec<OsString> = argv.iter().map(OsString::from).collect();
        all.extend(extra);
        Ok(root.try_get_matches_from(all).unwrap())
    }

    fn serve_value(m: &ArgMatches, id: &str) -> String {
        m.subcommand_matches("serve")
            .unwrap()
            .get_one::<String>(id)
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn file_beats_default_and_flag_beats_file() {
        let m = effective(
            &["t", "serve", "--region", "eu-west-1"],
            "region = \"ap-south-1\"\nlisten = \"0.0.0.0:9000\"\ndata_dir = \"/var/lib/opensts\"\nrate-per-account = 5\nprint-config = true",
        )
        .unwrap();
        assert_eq!(serve_value(&m, "region"), "eu-west-1", "flag > file");
        assert_eq!(serve_value(&m, "listen"), "0.0.0.0:9000", "file > default");
        assert_eq!(
            serve_value(&m, "data_dir"),
            "/var/lib/opensts",
            "snake_case key"
        );
        let s = m.subcommand_matches("serve").unwrap();
        assert_eq!(s.get_one::<f64>("rate_per_account"), Some(&5.0));
        assert!(s.get_flag("print_config"));
        assert_eq!(s.value_source("listen"), Some(ValueSource::CommandLine));
    }

    #[test]
    fn unknown_keys_fail_and_other_subcommands_keys_are_ignored() {
        let e = effective(&["t", "serve"], "lisen = \"x\"").unwrap_err();
        assert!(e.contains("unknown setting `lisen`"), "{e}");
        let m = effective(&["t", "serve"], "purpose = \"all\"").unwrap();
        assert_eq!(serve_value(&m, "listen"), "127.0.0.1:8080");
        let e = effective(&["t", "serve"], "config = \"x\"").unwrap_err();
        assert!(e.contains("cannot be set"), "{e}");
        let e = effective(&["t", "serve"], "listen = [1]").unwrap_err();
        assert!(e.contains("string, number or boolean"), "{e}");
    }

    #[test]
    fn file_values_are_validated_like_flags() {
        let root = cmd();
        let first = root.clone().try_get_matches_from(["t", "serve"]).unwrap();
        let table: toml::Table = "rate-per-account = \"fast\"".parse().unwrap();
        let extra = file_args(&root, &first, &table).unwrap();
        let mut all = vec![OsString::from("t"), OsString::from("serve")];
        all.extend(extra);
        assert!(root.try_get_matches_from(all).is_err());
    }
}
