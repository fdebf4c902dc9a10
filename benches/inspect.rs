//! Document inspection on a generated set of valid files, next to `pdftotext` (poppler-utils)
//! on the same files in the same run.
//!
//! Ours is measured as the server runs it: one worker process per file (`accredo
//! inspect-worker` of the release build, with its limits), so process start-up is counted on
//! both sides. Each file is inspected and each PDF converted one at a time, alternating,
//! several rounds; the figure is the median per file. pdftotext only reads PDFs, so images
//! get our figure alone. The in-process inspection time is printed too, for reference.
//!
//! `cargo bench --bench inspect` (pdftotext on PATH: `apt-get install poppler-utils`;
//! BENCH_INSPECT_FILES files of each kind, default 12; BENCH_INSPECT_ROUNDS, default 5).

use accredo::documents::inspect::{self, Limits};
use accredo::documents::worker::{Inspector, WorkerConfig};
use anyhow::{Context, bail};
use pdf_extract::{Document, Object, Stream, dictionary};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_accredo");

/// A4 at 300 dpi.
const SCAN: (u32, u32) = (2481, 3508);

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A grey A4 scan with some structure (so that it compresses like a page, not like a
/// constant): text-like dark bars on a light background, varied by `seed`.
fn scan(seed: u32) -> image::GrayImage {
    image::GrayImage::from_fn(SCAN.0, SCAN.1, |x, y| {
        let line = (y / 60 + seed) % 7;
        let dark = line < 3 && !(x / 18 + y / 60 + seed).is_multiple_of(5) && (y % 60) < 30;
        image::Luma([if dark { 40 } else { 235 }])
    })
}

fn encode(img: &image::GrayImage, format: image::ImageFormat) -> anyhow::Result<Vec<u8>> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format)?;
    Ok(out.into_inner())
}

/// A PDF of `pages` A4 pages: text (`lines` lines each) or, with `jpeg`, one scanned image
/// per page.
fn pdf(pages: usize, lines: usize, jpeg: Option<&[u8]>) -> anyhow::Result<Vec<u8>> {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
    });
    let mut kids = Vec::new();
    for p in 0..pages {
        let (resources, content) = match jpeg {
            Some(bytes) => {
                let image_id = doc.add_object(Stream::new(
                    dictionary! {
                        "Type" => "XObject", "Subtype" => "Image",
                        "Width" => i64::from(SCAN.0), "Height" => i64::from(SCAN.1),
                        "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8,
                        "Filter" => "DCTDecode",
                    },
                    bytes.to_vec(),
                ));
                (
                    dictionary! { "XObject" => dictionary! { "Im1" => image_id } },
                    b"q 595 0 0 842 0 0 cm /Im1 Do Q".to_vec(),
                )
            }
            None => {
                let mut content = b"BT /F1 11 Tf 56 814 Td\n".to_vec();
                for l in 0..lines {
                    content.extend_from_slice(
                        format!(
                            "0 -14 Td (Page {p} line {l}: the specialist completed continuing \
                             education course {l} of the programme) Tj\n"
                        )
                        .as_bytes(),
                    );
                }
                content.extend_from_slice(b"ET");
                (
                    dictionary! { "Font" => dictionary! { "F1" => font_id } },
                    content,
                )
            }
        };
        let content_id = doc.add_object(Stream::new(dictionary! {}, content));
        let resources_id = doc.add_object(resources);
        kids.push(Object::from(doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        })));
    }
    let count = i64::try_from(kids.len())?;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => count }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    doc.compress();
    let mut out = Vec::new();
    doc.save_to(&mut out)?;
    Ok(out)
}

struct Kind {
    name: &'static str,
    files: Vec<PathBuf>,
    pdf: bool,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> anyhow::Result<()> {
    let per_kind = env_or("BENCH_INSPECT_FILES", 12).max(1);
    let rounds = env_or("BENCH_INSPECT_ROUNDS", 5).max(1);
    let pdftotext =
        which("pdftotext").context("pdftotext is not on PATH: apt-get install poppler-utils")?;
    let dir = tempfile::tempdir()?;
    let write = |name: String, bytes: Vec<u8>| -> anyhow::Result<PathBuf> {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes)?;
        Ok(path)
    };
    println!(
        "generating {per_kind} files of each kind in {}",
        dir.path().display()
    );
    let mut kinds = vec![
        Kind {
            name: "text PDF, 1-page",
            files: vec![],
            pdf: true,
        },
        Kind {
            name: "text PDF, 10-page",
            files: vec![],
            pdf: true,
        },
        Kind {
            name: "scanned PDF, 2 pages 300 dpi",
            files: vec![],
            pdf: true,
        },
        Kind {
            name: "JPEG scan, A4 300 dpi",
            files: vec![],
            pdf: false,
        },
        Kind {
            name: "PNG scan, A4 300 dpi",
            files: vec![],
            pdf: false,
        },
    ];
    for i in 0..per_kind {
        let seed = u32::try_from(i)?;
        let img = scan(seed);
        let jpeg = encode(&img, image::ImageFormat::Jpeg)?;
        kinds[0]
            .files
            .push(write(format!("t1-{i}.pdf"), pdf(1, 50 + i % 5, None)?)?);
        kinds[1]
            .files
            .push(write(format!("t10-{i}.pdf"), pdf(10, 50 + i % 5, None)?)?);
        kinds[2]
            .files
            .push(write(format!("s-{i}.pdf"), pdf(2, 0, Some(&jpeg))?)?);
        kinds[3].files.push(write(format!("j-{i}.jpg"), jpeg)?);
        kinds[4].files.push(write(
            format!("p-{i}.png"),
            encode(&img, image::ImageFormat::Png)?,
        )?);
    }

    let mut config = WorkerConfig::new(BIN.into());
    config.parallel = 1;
    let inspector = Inspector::new(config);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let ours = |bytes: Arc<Vec<u8>>| -> anyhow::Result<Duration> {
        let t = Instant::now();
        let report = runtime
            .block_on(inspector.inspect(bytes))
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let took = t.elapsed();
        if !report.problems.is_empty() {
            bail!("a valid file was refused: {:?}", report.problems);
        }
        Ok(took)
    };
    let theirs = |path: &Path| -> anyhow::Result<Duration> {
        let t = Instant::now();
        let out = Command::new(&pdftotext).arg(path).arg("-").output()?;
        let took = t.elapsed();
        if !out.status.success() {
            bail!("pdftotext failed on {}", path.display());
        }
        Ok(took)
    };

    println!(
        "\n{:<30} {:>6} {:>12} {:>13} {:>8} {:>14}",
        "files", "size", "ours ms/file", "pdftotext ms", "ratio", "in-process ms"
    );
    let mut worst: f64 = 0.0;
    for kind in &kinds {
        let (mut mine, mut poppler, mut inproc) = (vec![], vec![], vec![]);
        let mut size = 0;
        for path in &kind.files {
            let bytes = Arc::new(std::fs::read(path)?);
            size = bytes.len();
            // Warm the page cache and both programs once.
            ours(bytes.clone())?;
            if kind.pdf {
                theirs(path)?;
            }
            for _ in 0..rounds {
                mine.push(ours(bytes.clone())?);
                if kind.pdf {
                    poppler.push(theirs(path)?);
                }
                let t = Instant::now();
                let report = inspect::inspect(&bytes, Limits::default())
                    .map_err(|p| anyhow::anyhow!("{p:?}"))?;
                inproc.push(t.elapsed());
                assert!(report.problems.is_empty());
            }
        }
        let m = median(mine);
        let i = median(inproc);
        if kind.pdf {
            let p = median(poppler);
            let ratio = m.as_secs_f64() / p.as_secs_f64();
            worst = worst.max(ratio);
            println!(
                "{:<30} {:>5}K {:>12.1} {:>13.1} {:>7.2}× {:>14.1}",
                kind.name,
                size / 1024,
                ms(m),
                ms(p),
                ratio,
                ms(i)
            );
        } else {
            println!(
                "{:<30} {:>5}K {:>12.1} {:>13} {:>8} {:>14.1}",
                kind.name,
                size / 1024,
                ms(m),
                "—",
                "—",
                ms(i)
            );
        }
    }
    println!(
        "\nslowest PDF ratio (ours / pdftotext, per file, median of {} runs × {per_kind} files): \
         {worst:.2}× (target ≤ 1)",
        rounds
    );
    Ok(())
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(program))
            .find(|p| p.is_file())
    })
}
