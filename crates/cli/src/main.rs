//! # cairn: the binary
//!
//! `cairn serve` runs the node; `cairn demo` runs it with a demo community on the embedded
//! store; `cairn admin …` administers the store offline; `cairn audit verify` checks the audit
//! chain. Configuration: defaults, then `--config FILE`, then `CAIRN_*`, then flags.
#![forbid(unsafe_code)]

mod admin;
mod config;
mod demo;
mod node;
mod pull;
mod transfer;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, Overrides};

#[derive(Debug, Parser)]
#[command(
    name = "cairn",
    version,
    about = "Information exchange and coordinated incident response between organizations"
)]
struct Cli {
    /// TOML configuration file (also CAIRN_CONFIG).
    #[arg(long, global = true, env = "CAIRN_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// The store: sqlite://PATH or postgres://… (also CAIRN_DATABASE_URL, `database_url`).
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// File holding the node master key (also CAIRN_MASTER_KEY_FILE, `master_key_file`).
    #[arg(long, global = true, value_name = "FILE")]
    master_key_file: Option<PathBuf>,
    /// Log format: text or json (also CAIRN_LOG_FORMAT, `log_format`).
    #[arg(long, global = true, value_name = "FORMAT")]
    log_format: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server.
    Serve {
        /// Address and port (also CAIRN_LISTEN, `listen`); default 127.0.0.1:8640.
        #[arg(long, value_name = "ADDR:PORT")]
        listen: Option<String>,
        /// PEM certificate chain for TLS (also CAIRN_TLS_CERT).
        #[arg(long, value_name = "FILE")]
        tls_cert: Option<PathBuf>,
        /// PEM private key for TLS (also CAIRN_TLS_KEY).
        #[arg(long, value_name = "FILE")]
        tls_key: Option<PathBuf>,
        /// Apply this provisioning file before serving (also CAIRN_BOOTSTRAP).
        #[arg(long, value_name = "FILE.toml")]
        bootstrap: Option<PathBuf>,
    },
    /// Run a demo node with a seeded community on the embedded store.
    Demo {
        /// Address and port (also CAIRN_LISTEN); default 127.0.0.1:8640.
        #[arg(long, value_name = "ADDR:PORT")]
        listen: Option<String>,
        /// Folder for the demo's database, key and credentials (also CAIRN_DATA_DIR); default a
        /// fresh folder.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Administer the store offline.
    Admin {
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
    /// Publish STIX bundles or TAXII envelopes (files or folders) into a community.
    Import {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The community's slug.
        #[arg(long)]
        community: String,
        /// The user (and so the source organization) the objects are published as.
        #[arg(long)]
        user: String,
        /// Publish under the community's pseudonym instead of the organization's name.
        #[arg(long)]
        anonymous: bool,
    },
    /// Write a STIX bundle of what a user may see in a community.
    Export {
        #[arg(long)]
        community: String,
        /// Whose view to export.
        #[arg(long)]
        user: String,
        /// File to write (default: standard output).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// Only the latest version of each object.
        #[arg(long)]
        latest: bool,
        /// Also write the versions' signatures to this file (input of `cairn verify`).
        #[arg(long)]
        signatures: Option<PathBuf>,
    },
    /// Check a bundle offline: every object must carry a valid signature by a published key.
    /// Exit 0 if all hold, 1 if any does not.
    Verify {
        /// The STIX bundle (or TAXII envelope).
        bundle: PathBuf,
        /// The signatures (`cairn export --signatures`, or collected from the API).
        #[arg(long)]
        signatures: PathBuf,
        /// The published keys (`GET /api/v1/keys`).
        #[arg(long)]
        keys: PathBuf,
    },
    /// Exchange with other TAXII 2.1 servers.
    Taxii {
        #[command(subcommand)]
        command: TaxiiCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Debug, Subcommand)]
enum TaxiiCommand {
    /// Copy a remote collection into a community; a repeated pull fetches only what is new.
    Pull {
        /// The remote API root URL.
        url: String,
        /// The remote collection id.
        #[arg(long)]
        collection: String,
        /// The local community.
        #[arg(long)]
        community: String,
        /// The local user (and so organization) the objects are published as.
        #[arg(long)]
        user: String,
        /// User name at the remote server (HTTP Basic).
        #[arg(long)]
        remote_user: Option<String>,
        /// Token or password at the remote server (also CAIRN_REMOTE_TOKEN).
        #[arg(long, env = "CAIRN_REMOTE_TOKEN", hide_env_values = true)]
        remote_token: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk the hash chain; exit 1 naming the first broken entry.
    Verify,
}

fn init_logging(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if config.log_format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut overrides = Overrides {
        database_url: cli.database_url,
        master_key_file: cli.master_key_file,
        log_format: cli.log_format,
        ..Default::default()
    };
    match &cli.command {
        Command::Serve {
            listen,
            tls_cert,
            tls_key,
            bootstrap,
        } => {
            overrides.listen = listen.clone();
            overrides.tls_cert = tls_cert.clone();
            overrides.tls_key = tls_key.clone();
            overrides.bootstrap = bootstrap.clone();
        }
        Command::Demo { listen, data_dir } => {
            overrides.listen = listen.clone();
            overrides.data_dir = data_dir.clone();
        }
        _ => {}
    }
    let config = Config::load(cli.config.as_deref(), &overrides)?;
    init_logging(&config);
    match cli.command {
        Command::Serve { .. } => node::serve(config).await.map(|_| ExitCode::SUCCESS),
        Command::Demo { .. } => demo::run(config).await.map(|_| ExitCode::SUCCESS),
        Command::Admin { command } => admin::run(config, command).await,
        Command::Audit {
            command: AuditCommand::Verify,
        } => admin::audit_verify(config).await,
        Command::Import {
            paths,
            community,
            user,
            anonymous,
        } => {
            let (cairn, store) = node::open(&config, true).await?;
            let options = cairn_core::exchange::ShareOptions { anonymous };
            let totals = transfer::import(&cairn, &user, &community, &paths, options).await;
            // Correlation notices of what was stored (even if the import stopped early) are
            // written before the store closes.
            cairn.settle_correlation().await;
            store.close().await;
            Ok(totals?.finish())
        }
        Command::Taxii {
            command:
                TaxiiCommand::Pull {
                    url,
                    collection,
                    community,
                    user,
                    remote_user,
                    remote_token,
                },
        } => {
            let (cairn, store) = node::open(&config, true).await?;
            let source = pull::Source {
                api_root: url,
                collection,
                user: remote_user,
                token: remote_token,
            };
            let totals = pull::pull(&cairn, &source, &community, &user).await;
            cairn.settle_correlation().await;
            store.close().await;
            Ok(totals?.finish())
        }
        Command::Export {
            community,
            user,
            output,
            latest,
            signatures,
        } => {
            let (cairn, store) = node::open(&config, true).await?;
            let n = transfer::export(
                &cairn,
                &user,
                &community,
                output.as_deref(),
                signatures.as_deref(),
                !latest,
            )
            .await;
            store.close().await;
            eprintln!("exported {} objects", n?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify {
            bundle,
            signatures,
            keys,
        } => {
            let (ok, failed) = transfer::verify(&bundle, &signatures, &keys)?;
            eprintln!("{ok} verified, {failed} failed");
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
