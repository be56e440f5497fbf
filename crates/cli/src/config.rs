//! Configuration: built-in defaults, then a TOML file (`--config`), then `CAIRN_*` environment
//! variables, then command-line flags. Unknown keys are an error that names the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// A secret that never shows in `Debug` output or logs.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Every setting. See `docs/CONFIGURATION.md`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `sqlite://PATH` (embedded, default) or `postgres://…`.
    pub database_url: String,
    /// Address and port `serve` and `demo` listen on.
    pub listen: SocketAddr,
    /// The node master key (64 hex characters or base64 of 32 bytes). Prefer `master_key_file`.
    pub master_key: Option<Secret>,
    /// File holding the master key. Default: `master.key` beside the SQLite database (created
    /// on first start); required for PostgreSQL unless `master_key` is set.
    pub master_key_file: Option<PathBuf>,
    /// PEM certificate chain and private key; both or neither.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// `text` or `json`.
    pub log_format: String,
    /// A tracing filter, e.g. `info` or `cairn=debug,info`.
    pub log_level: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Longest time one request may take, in seconds.
    pub request_timeout_secs: u64,
    /// How long in-flight requests may take to finish after a shutdown signal, in seconds.
    pub shutdown_grace_secs: u64,
    /// Failed authentications allowed per client address or user within the window.
    pub auth_max_failures: usize,
    pub auth_window_secs: u64,
    /// Largest TAXII envelope accepted, in bytes (the API roots' `max_content_length`).
    pub taxii_max_content_length: usize,
    /// Largest attachment (an artifact's decoded content) accepted on any way in, in bytes.
    pub max_attachment_bytes: usize,
    /// Largest document request (`POST …/documents`, attachments in base64), in bytes.
    pub max_document_bytes: usize,
    /// Maximum connections in the store's pool.
    pub max_connections: u32,
    /// `demo`: the folder to run in (default: a fresh folder it names).
    pub data_dir: Option<PathBuf>,
    /// `serve`: a provisioning file to apply before serving.
    pub bootstrap: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: "sqlite://./cairn-data/cairn.db".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8640)),
            master_key: None,
            master_key_file: None,
            tls_cert: None,
            tls_key: None,
            log_format: "text".into(),
            log_level: "info".into(),
            max_body_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            shutdown_grace_secs: 30,
            auth_max_failures: 10,
            auth_window_secs: 300,
            taxii_max_content_length: 32 * 1024 * 1024,
            max_attachment_bytes: 10 * 1024 * 1024,
            max_document_bytes: 32 * 1024 * 1024,
            max_connections: 16,
            data_dir: None,
            bootstrap: None,
        }
    }
}

/// Settings given as flags; only those present override.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_key_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<PathBuf>,
}

/// Environment variables with this prefix are configuration.
pub const ENV_PREFIX: &str = "CAIRN_";
/// Variables under the prefix that are not configuration keys: the config file path itself, the
/// remote token of `cairn taxii pull`, and the settings of the test, benchmark and interop tools
/// (`CAIRN_TEST_*`, `CAIRN_BENCH_*`, `CAIRN_INTEROP_*`).
fn ignored_env(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key == "config"
        || key == "remote_token"
        || key.starts_with("test_")
        || key.starts_with("bench_")
        || key.starts_with("interop_")
}

impl Config {
    /// Load the layers in order.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.is_file() {
                bail!("configuration file {} does not exist", file.display());
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment
            .merge(Env::prefixed(ENV_PREFIX).filter(|k| !ignored_env(k.as_str())))
            .merge(Serialized::globals(overrides));
        let config: Config = figment.extract().map_err(|e| {
            let mut text = String::new();
            for err in e {
                if !text.is_empty() {
                    text.push_str("; ");
                }
                text.push_str(&err.to_string());
            }
            anyhow::anyhow!("configuration: {text}")
        })?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<()> {
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            bail!("configuration: tls_cert and tls_key must be given together");
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            bail!(
                "configuration: log_format must be `text` or `json`, not `{}`",
                self.log_format
            );
        }
        if self.max_body_bytes < 1024 {
            bail!("configuration: max_body_bytes must be at least 1024");
        }
        if self.max_attachment_bytes == 0 {
            bail!("configuration: max_attachment_bytes must be at least 1");
        }
        if self.max_document_bytes < 1024 {
            bail!("configuration: max_document_bytes must be at least 1024");
        }
        if self.request_timeout_secs == 0 {
            bail!("configuration: request_timeout_secs must be at least 1");
        }
        Ok(())
    }

    /// The SQLite database file, if the store is SQLite.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        let rest = self
            .database_url
            .strip_prefix("sqlite://")
            .or_else(|| self.database_url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or(rest);
        Some(PathBuf::from(path))
    }

    /// Where the master key file is, or would be created.
    pub fn master_key_path(&self) -> Result<Option<PathBuf>> {
        if let Some(p) = &self.master_key_file {
            return Ok(Some(p.clone()));
        }
        if self.master_key.is_some() {
            return Ok(None);
        }
        match self.sqlite_path() {
            Some(db) => Ok(Some(
                db.parent()
                    .map(|p| p.join("master.key"))
                    .unwrap_or_else(|| PathBuf::from("master.key")),
            )),
            None => bail!(
                "no master key: set CAIRN_MASTER_KEY, or master_key_file (CAIRN_MASTER_KEY_FILE) to a file holding 32 bytes as hex"
            ),
        }
    }
}

/// Read the master key; create the file (mode 0600) only when `create` and it is missing.
pub fn master_key(config: &Config, create: bool) -> Result<cairn_core::keys::MasterKey> {
    use cairn_core::keys::MasterKey;
    if let Some(Secret(text)) = &config.master_key {
        return MasterKey::parse(text).map_err(|e| anyhow::anyhow!("master_key: {e}"));
    }
    let Some(path) = config.master_key_path()? else {
        bail!("no master key configured");
    };
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the master key file {}", path.display()))?;
        return MasterKey::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
    }
    if !create {
        bail!("the master key file {} does not exist", path.display());
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let key = MasterKey::generate();
    write_private(&path, &format!("{}\n", key.to_hex()))?;
    tracing::warn!(path = %path.display(), "created a new node master key; back it up: without it the organizations' signing keys cannot be used");
    Ok(key)
}

/// Write a file readable by its owner only.
pub fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order_and_unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nlog_format = \"json\"\n",
        )
        .unwrap();
        let c = Config::load(Some(&file), &Overrides::default()).unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.log_format, "json");
        let flags = Overrides {
            listen: Some("127.0.0.1:9100".into()),
            ..Default::default()
        };
        assert_eq!(
            Config::load(Some(&file), &flags).unwrap().listen.port(),
            9100
        );

        std::fs::write(&file, "lisen = \"127.0.0.1:9000\"\n").unwrap();
        let err = Config::load(Some(&file), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("lisen"), "{err}");
    }

    #[test]
    fn test_settings_are_not_configuration() {
        assert!(ignored_env("TEST_POSTGRES_URL"));
        assert!(ignored_env("CONFIG"));
        assert!(!ignored_env("LISTEN"));
    }

    #[test]
    fn secrets_do_not_print() {
        let c = Config {
            master_key: Some(Secret("abcdef".into())),
            ..Default::default()
        };
        assert!(!format!("{c:?}").contains("abcdef"));
    }

    #[test]
    fn tls_needs_both_files() {
        let flags = Overrides {
            tls_cert: Some("/x.pem".into()),
            ..Default::default()
        };
        assert!(Config::load(None, &flags).is_err());
    }
}
