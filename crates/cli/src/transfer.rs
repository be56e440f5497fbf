//! `cairn import` and `cairn export`: STIX bundles in and out of a community, as a given user
//! (so the user's organization is the source of what is imported, and the export holds only what
//! that user may see).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use cairn_core::exchange::ResultKind;
use cairn_core::model::Actor;
use cairn_core::Cairn;

/// Objects published per transaction.
const BATCH: usize = 1000;

async fn actor(cairn: &Cairn, username: &str) -> Result<Actor> {
    let user = cairn
        .store()
        .user_by_name(username)
        .await?
        .ok_or_else(|| anyhow!("user: no user `{username}`"))?;
    if user.disabled {
        bail!("user: `{username}` is disabled");
    }
    Ok(Actor::for_user(&user))
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("{}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            if e.is_dir() || e.extension().is_some_and(|x| x == "json") {
                collect(&e, out)?;
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// Totals of an import or a pull.
#[derive(Debug, Default)]
pub struct Totals {
    pub stored: usize,
    pub duplicate: usize,
    pub refused: usize,
}

impl Totals {
    /// Count a report's outcomes; return the refused results for the caller to show.
    pub fn add<'a>(
        &mut self,
        report: &'a cairn_core::exchange::ShareReport,
    ) -> Vec<&'a cairn_core::exchange::ObjectResult> {
        let mut refused = Vec::new();
        for r in &report.results {
            match r.outcome {
                ResultKind::Stored => self.stored += 1,
                ResultKind::Duplicate => self.duplicate += 1,
                ResultKind::Refused => {
                    self.refused += 1;
                    refused.push(r);
                }
            }
        }
        refused
    }

    /// Print the summary line; failure if anything was refused.
    pub fn finish(&self) -> std::process::ExitCode {
        println!(
            "{} stored, {} duplicate, {} refused",
            self.stored, self.duplicate, self.refused
        );
        if self.refused > 0 {
            std::process::ExitCode::FAILURE
        } else {
            std::process::ExitCode::SUCCESS
        }
    }
}

/// `cairn import`: files or folders of STIX bundles or TAXII envelopes, one file in memory at a
/// time, published in batches. Returns the totals; refusals are printed with their reasons.
pub async fn import(
    cairn: &Cairn,
    username: &str,
    community: &str,
    paths: &[PathBuf],
    options: cairn_core::exchange::ShareOptions,
) -> Result<Totals> {
    let actor = actor(cairn, username).await?;
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files)?;
    }
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(files.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} files, {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut totals = Totals::default();
    let mut shown = 0;
    for file in &files {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        let objects = match cairn_stix::parse_envelope(&bytes) {
            Ok(o) => o,
            Err(e) => {
                bar.suspend(|| eprintln!("refused {}: {e}", file.display()));
                totals.refused += 1;
                bar.inc(1);
                continue;
            }
        };
        drop(bytes);
        let mut rest = objects;
        while !rest.is_empty() {
            let tail = rest.split_off(rest.len().min(BATCH));
            let report = cairn.share_parsed(&actor, community, rest, options).await?;
            for r in totals.add(&report) {
                if shown < 50 {
                    shown += 1;
                    bar.suspend(|| {
                        eprintln!(
                            "refused {} in {}: {}",
                            r.id,
                            file.display(),
                            r.message.as_deref().unwrap_or("")
                        )
                    });
                }
            }
            rest = tail;
            bar.set_message(format!(
                "{} stored, {} duplicate, {} refused",
                totals.stored, totals.duplicate, totals.refused
            ));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(totals)
}

/// `cairn export`: a bundle of what the user may see, to a file or standard output.
pub async fn export(
    cairn: &Cairn,
    username: &str,
    community: &str,
    output: Option<&Path>,
    signatures: Option<&Path>,
    all_versions: bool,
) -> Result<usize> {
    let actor = actor(cairn, username).await?;
    let mut out: Box<dyn Write> = match output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut sigs: Option<std::io::BufWriter<std::fs::File>> = match signatures {
        Some(p) => {
            let mut f = std::io::BufWriter::new(
                std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
            );
            f.write_all(b"{\"signatures\":[")?;
            Some(f)
        }
        None => None,
    };
    let mut first = true;
    let n = cairn
        .export_signed_bundle(
            &actor,
            community,
            all_versions,
            |s| out.write_all(s.as_bytes()),
            |sig| match sigs.as_mut() {
                Some(f) => {
                    if !first {
                        f.write_all(b",")?;
                    }
                    first = false;
                    serde_json::to_writer(&mut *f, sig).map_err(std::io::Error::other)
                }
                None => Ok(()),
            },
        )
        .await?;
    out.flush()?;
    if let Some(mut f) = sigs {
        f.write_all(b"]}\n")?;
        f.flush()?;
    }
    Ok(n)
}

/// `cairn verify`: check a bundle against its signatures and the published keys, offline.
/// Prints one line per object that fails; returns (verified, failed).
pub fn verify(bundle: &Path, signatures: &Path, keys: &Path) -> Result<(usize, usize)> {
    let read = |p: &Path| -> Result<serde_json::Value> {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", p.display()))
    };
    let bundle = read(bundle)?;
    let sigs = read(signatures)?;
    let sigs: Vec<cairn_core::provenance::SignatureEntry> =
        serde_json::from_value(sigs.get("signatures").cloned().unwrap_or(sigs))
            .with_context(|| format!("{}: not a list of signatures", signatures.display()))?;
    let keys_json = read(keys)?;
    let keys: Vec<cairn_core::PublicKey> =
        serde_json::from_value(keys_json.get("keys").cloned().unwrap_or(keys_json))
            .with_context(|| format!("{}: not a list of published keys", keys.display()))?;
    let report = cairn_core::provenance::verify_bundle(&bundle, &sigs, &keys)
        .map_err(|e| anyhow::anyhow!(e))?;
    let mut failed = 0;
    for v in &report {
        if let Some(p) = &v.problem {
            failed += 1;
            println!("FAIL {} {}: {p}", v.id, v.version);
        }
    }
    Ok((report.len() - failed, failed))
}
