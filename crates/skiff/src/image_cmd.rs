//! `skiff image …`: the image store from the command line.

use anyhow::Context;
use clap::Subcommand;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use skiff_image::hosts::Credentials;
use skiff_image::pull::{NoProgress, Progress};
use skiff_image::ImageService;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;

#[derive(Subcommand)]
pub enum ImageCommand {
    /// List images: name, digest, size.
    Ls,
    /// Pull an image (e.g. nginx:1.24) and unpack its layers.
    Pull { reference: String },
    /// Import an OCI layout or `docker save` tarball.
    Import {
        file: PathBuf,
        /// Name the image (needed when the archive carries no name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Remove an image name (its content goes with `prune`).
    Rm { reference: String },
    /// Delete blobs and layers no image references, and abandoned downloads.
    Prune,
}

/// Progress bars per layer on a terminal; nothing otherwise.
struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
}

impl Progress for Bars {
    fn layer(&self, digest: &str, size: u64, cached: bool) {
        let bar = self.multi.add(ProgressBar::new(size));
        let style = ProgressStyle::with_template("{prefix} {bar:30} {bytes}/{total_bytes} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(digest.get(7..19).unwrap_or(digest).to_string());
        if cached {
            bar.set_position(size);
            bar.finish_with_message("already present");
        }
        self.bars.lock().unwrap_or_else(|e| e.into_inner()).insert(digest.to_string(), bar);
    }

    fn bytes(&self, digest: &str, n: u64) {
        if let Some(b) = self.bars.lock().unwrap_or_else(|e| e.into_inner()).get(digest) {
            b.inc(n);
        }
    }

    fn layer_done(&self, digest: &str) {
        if let Some(b) = self.bars.lock().unwrap_or_else(|e| e.into_inner()).get(digest) {
            if !b.is_finished() {
                b.finish_with_message("done");
            }
        }
    }
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..=1023 => format!("{bytes} B"),
        1024..=1_048_575 => format!("{:.1} KiB", b / 1024.0),
        1_048_576..=1_073_741_823 => format!("{:.1} MiB", b / 1_048_576.0),
        _ => format!("{:.2} GiB", b / 1_073_741_824.0),
    }
}

pub fn run(data_dir: PathBuf, mirrors: Vec<String>, cmd: ImageCommand) -> anyhow::Result<()> {
    let root = data_dir.join("images");
    let svc = ImageService::open(&root, &mirrors)
        .with_context(|| format!("opening the image store in {}", root.display()))?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    match cmd {
        ImageCommand::Ls => {
            let images = svc.list();
            let width = images.iter().map(|i| i.name.len()).max().unwrap_or(3).max(3);
            println!("{:width$}  {:71}  SIZE", "REF", "DIGEST");
            for i in images {
                println!("{:width$}  {:71}  {}", i.name, i.digest, human(i.size));
            }
        }
        ImageCommand::Pull { reference } => {
            let started = std::time::Instant::now();
            let rec = rt.block_on(async {
                if std::io::stdout().is_terminal() {
                    let bars = Bars { multi: MultiProgress::new(), bars: Mutex::new(HashMap::new()) };
                    svc.pull(&reference, &Credentials::default(), &bars).await
                } else {
                    svc.pull(&reference, &Credentials::default(), &NoProgress).await
                }
            })?;
            println!(
                "{}: {} ({} layers, {}) in {:.2}s",
                rec.name,
                rec.digest,
                rec.layers.len(),
                human(rec.size),
                started.elapsed().as_secs_f64()
            );
        }
        ImageCommand::Import { file, name } => {
            let recs = rt.block_on(svc.import(&file, name.as_deref()))?;
            for r in recs {
                println!("{}: {}", r.name, r.digest);
            }
        }
        ImageCommand::Rm { reference } => {
            let rec = svc.remove(&reference, &[])?;
            println!("Deleted: {}", rec.name);
        }
        ImageCommand::Prune => {
            let s = svc.prune()?;
            println!("Deleted {} blobs, {} unpacked layers, {} partial downloads", s.blobs, s.layers, s.partials);
        }
    }
    Ok(())
}
