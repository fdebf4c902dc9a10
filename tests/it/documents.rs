//! Inspection of untrusted files in the worker process: good scans and PDFs pass, and hostile
//! or broken files (a Flate bomb, a PNG declaring enormous dimensions, a truncated PDF, deeply
//! nested PDF objects, a PDF/JPEG polyglot, an empty file) each get their own refusal within
//! the time limit, without harming the calling process.

use crate::support::{pdf, text_pdf};
use accredo::documents::inspect::{self, Format, Limits};
use accredo::documents::worker::{InspectError, Inspector, WorkerConfig};
use pdf_extract::{Object, Stream, dictionary};
use std::io::{Cursor, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn inspector() -> Inspector {
    Inspector::new(WorkerConfig::new(env!("CARGO_BIN_EXE_accredo").into()))
}

fn image(w: u32, h: u32, format: image::ImageFormat) -> Vec<u8> {
    let img = image::GrayImage::from_pixel(w, h, image::Luma([200]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

/// A well-formed one-page PDF written by hand (with a correct cross-reference table) whose
/// page dictionary carries `/Foo <extra>`.
fn raw_pdf(extra: &str) -> Vec<u8> {
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        format!("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Foo {extra} >>"),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A one-page A4 PDF holding only a scanned image of `w`×`h` pixels over the whole page.
fn scan_pdf(w: u32, h: u32) -> Vec<u8> {
    crate::support::one_page_pdf(|doc| {
        let mut scan = Stream::new(
            dictionary! {
                "Type" => "XObject", "Subtype" => "Image",
                "Width" => i64::from(w), "Height" => i64::from(h),
                "ColorSpace" => "DeviceGray", "BitsPerComponent" => 8,
            },
            vec![200u8; (w * h) as usize],
        );
        scan.compress().expect("compress");
        let image_id = doc.add_object(scan);
        (
            dictionary! { "XObject" => dictionary! { "Im1" => image_id } },
            Stream::new(dictionary! {}, b"q 595 0 0 842 0 0 cm /Im1 Do Q".to_vec()),
        )
    })
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for b in bytes {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG whose header declares 1,000,000 × 1,000,000 pixels.
fn enormous_png() -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend_from_slice(&u32::try_from(data.len()).expect("len").to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&1_000_000u32.to_be_bytes());
    ihdr.extend_from_slice(&1_000_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &[0x78, 0x9c, 0x63, 0x60, 0x00, 0x00]);
    chunk(b"IEND", &[]);
    out
}

/// A Flate stream that inflates to 1 GiB of zeros (about 1 MB compressed: at the best level,
/// since zlib-rs, which flate2 uses once zip is in the graph, compresses zeros at `fast` to
/// more than the 5 MB a document may take).
/// Made once per test process: compressing a gibibyte is seconds of CPU that concurrent tests
/// timing the server would otherwise compete with.
fn flate_bomb() -> Vec<u8> {
    static BOMB: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BOMB.get_or_init(|| {
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..1024 {
            enc.write_all(&zeros).expect("deflate");
        }
        enc.finish().expect("finish")
    })
    .clone()
}

async fn refused(bytes: Vec<u8>) -> (String, Duration) {
    let started = Instant::now();
    let result = inspector().inspect(Arc::new(bytes)).await;
    let took = started.elapsed();
    match result {
        Err(InspectError::Refused(p)) => (p.code, took),
        // Inspected, with the reason it is not acceptable.
        Ok(r) if !r.problems.is_empty() => (r.problems[0].code.clone(), took),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn good_scans_and_pdfs_pass_and_low_resolution_is_named() {
    // Full-page A4 scans at 300 dpi take the debug build a while to decode on a loaded
    // machine; the limits are about hostile files, so here they are generous.
    let ins = Inspector::new(WorkerConfig {
        wall: Duration::from_secs(20),
        cpu_secs: 10,
        ..WorkerConfig::new(env!("CARGO_BIN_EXE_accredo").into())
    });
    // A4 at 300 dpi.
    let r = ins
        .inspect(Arc::new(image(2481, 3508, image::ImageFormat::Png)))
        .await
        .expect("png");
    assert_eq!(
        (r.format, r.dpi, r.problems.len()),
        (Format::Png, Some(300), 0),
        "{r:?}"
    );
    let r = ins
        .inspect(Arc::new(image(1240, 1754, image::ImageFormat::Jpeg)))
        .await
        .expect("jpeg");
    assert_eq!((r.format, r.dpi), (Format::Jpeg, Some(149)));
    assert_eq!(r.problems[0].code, "low_resolution");
    assert_eq!(
        r.problems[0].message,
        "разрешение 149 dpi, требуется не менее 300: отсканируйте документ заново с разрешением не ниже 300 dpi"
    );
    let r = ins.inspect(Arc::new(text_pdf())).await.expect("pdf");
    assert_eq!(
        (r.format, r.pages, r.has_text, r.problems.len()),
        (Format::Pdf, 1, true, 0),
        "{r:?}"
    );
    // Scans without a text layer: judged by the image's resolution on the page.
    let r = ins
        .inspect(Arc::new(scan_pdf(2481, 3508)))
        .await
        .expect("scan");
    assert_eq!(
        (r.has_text, r.dpi, r.problems.len()),
        (false, Some(300), 0),
        "{r:?}"
    );
    let r = ins
        .inspect(Arc::new(scan_pdf(1240, 1754)))
        .await
        .expect("poor scan");
    assert_eq!(r.dpi, Some(150));
    assert_eq!(r.problems[0].code, "low_resolution");
}

#[tokio::test]
async fn hostile_and_broken_files_are_refused_in_the_worker_within_the_limit() {
    let mut truncated = text_pdf();
    truncated.truncate(truncated.len() / 2);
    // 100,000 nested arrays in a page dictionary, in an otherwise well-formed file.
    let nested = {
        let depth = 100_000;
        raw_pdf(&format!("{}{}", "[".repeat(depth), "]".repeat(depth)))
    };
    let mut polyglot = image(64, 64, image::ImageFormat::Jpeg);
    polyglot.splice(20..20, b"%PDF-1.4 ".iter().copied());
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        // Inflating it runs into the worker's memory limit: the worker aborts on the
        // failed allocation (or its CPU limit ends it first), or the decoder gives the stream
        // up and the page has no content. The wall clock never ends a worker that computes,
        // so however loaded the machine, never inspection_timeout.
        (
            "flate bomb",
            pdf(flate_bomb(), Some("FlateDecode")),
            &["unreadable_file", "empty_pdf"],
        ),
        ("enormous PNG", enormous_png(), &["image_too_large"]),
        ("truncated PDF", truncated, &["corrupt_pdf"]),
        // lopdf bounds its recursion (the page parses, its content is empty) but takes its
        // time over it: on a slow machine the worker's CPU limit may end it first.
        (
            "deeply nested PDF",
            nested,
            &["empty_pdf", "unreadable_file"],
        ),
        ("PDF/JPEG polyglot", polyglot, &["ambiguous_format"]),
        (
            "font with a bogus encoding",
            bogus_font_pdf(),
            &["corrupt_pdf"],
        ),
        ("empty file", Vec::new(), &["empty_file"]),
        (
            "not a document",
            b"MZ\x90\x00 an executable".to_vec(),
            &["unsupported_format"],
        ),
        (
            "broken JPEG",
            image(64, 64, image::ImageFormat::Jpeg)[..200].to_vec(),
            &["corrupt_image"],
        ),
    ];
    // What the fuzz target found (fuzz/regressions): each refused with its specific code.
    let mut cases = cases;
    for entry in std::fs::read_dir(crate::support::repo().join("fuzz/regressions")).expect("dir") {
        let path = entry.expect("entry").path();
        let expected: &[&str] = match path.extension().and_then(|e| e.to_str()) {
            Some("pdf") => &["corrupt_pdf"],
            _ => &["corrupt_image"],
        };
        cases.push((
            "fuzz finding",
            std::fs::read(&path).expect("read"),
            expected,
        ));
    }
    let rss_before = rss_kib();
    // A computing worker is ended by its CPU limit, so on a loaded machine it may take more
    // wall-clock time than the stuck-worker limit, never more than the cap.
    let cap = WorkerConfig::new(env!("CARGO_BIN_EXE_accredo").into()).wall_cap;
    for (name, bytes, codes) in cases {
        let (code, took) = refused(bytes).await;
        assert!(codes.contains(&code.as_str()), "{name}: got {code}");
        assert!(took < cap, "{name}: took {took:?}");
    }
    // The bomb alone inflates to 1 GiB; other tests of this binary run meanwhile, so the
    // bound is loose, but an inflation in this process could not pass it.
    let grown = rss_kib().saturating_sub(rss_before);
    assert!(
        grown < 256 * 1024,
        "the caller's memory grew by {grown} KiB"
    );
}

/// A text PDF whose font names an encoding that does not exist, with differences that are not
/// glyph names and a ToUnicode map that is not a CMap.
fn bogus_font_pdf() -> Vec<u8> {
    crate::support::pdf_with_font(
        b"BT /F1 24 Tf 100 700 Td (Diploma) Tj ET".to_vec(),
        None,
        |doc| {
            let mut to_unicode = Stream::new(
                dictionary! {},
                b"begincmap <01> garbage endbfchar ]]".to_vec(),
            );
            to_unicode.allows_compression = false;
            let to_unicode = doc.add_object(to_unicode);
            dictionary! {
                "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica",
                "Encoding" => dictionary! {
                    "Type" => "Encoding",
                    "BaseEncoding" => "NoSuchEncoding",
                    "Differences" => vec![Object::Integer(68), Object::Integer(-5), Object::Real(1.5)],
                },
                "ToUnicode" => to_unicode,
            }
        },
    )
}

/// This process's resident memory, KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn the_format_comes_from_the_content() {
    let plain = raw_pdf("1");
    assert_eq!(inspect::sniff(&plain), Ok(Format::Pdf));
    assert_eq!(inspect::sniff(&text_pdf()), Ok(Format::Pdf));
    assert_eq!(
        inspect::sniff(&image(8, 8, image::ImageFormat::Png)),
        Ok(Format::Png)
    );
    assert_eq!(
        inspect::sniff(b"GIF89a").map_err(|p| p.code),
        Err("unsupported_format".to_owned())
    );
    // Data after the end of an image is refused; zero padding after it is not data.
    let jpeg = image(8, 8, image::ImageFormat::Jpeg);
    let png = image(8, 8, image::ImageFormat::Png);
    for (img, format) in [(&jpeg, Format::Jpeg), (&png, Format::Png)] {
        let mut padded = img.clone();
        padded.extend_from_slice(&[0; 16]);
        assert_eq!(inspect::sniff(&padded), Ok(format));
        let mut tail = img.clone();
        tail.extend_from_slice(b"\0\0trailing bytes");
        assert_eq!(
            inspect::sniff(&tail).map_err(|p| p.code),
            Err("ambiguous_format".to_owned())
        );
    }
    assert_eq!(Format::Jpeg.extensions(), ["jpg", "jpeg"]);
    let limits = Limits::default();
    assert_eq!(limits.min_dpi, 300);
}

/// The inspector runs at most `parallel` workers at once; the others wait their turn.
#[tokio::test]
async fn at_most_n_inspections_run_at_once() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    let running = dir.path().join("running");
    std::fs::create_dir(&running).expect("dir");
    let seen = dir.path().join("seen");
    // A stand-in worker that notes how many workers run beside it, then takes 300 ms.
    let script = format!(
        "#!/bin/sh\ncat >/dev/null\ntouch {r}/$$\nls {r} | wc -l >> {s}\nsleep 0.3\n\
         rm {r}/$$\necho '{{not json'\n",
        r = running.display(),
        s = seen.display()
    );
    let path = dir.path().join("worker");
    std::fs::write(&path, script).expect("script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut config = WorkerConfig::new(path);
    config.parallel = 2;
    let ins = Inspector::new(config);
    let started = Instant::now();
    let all = futures::future::join_all((0..6).map(|_| ins.inspect(Arc::new(text_pdf())))).await;
    let took = started.elapsed();
    assert!(all.iter().all(Result::is_err));
    let counts: Vec<u32> = std::fs::read_to_string(&seen)
        .expect("seen")
        .lines()
        .map(|l| l.trim().parse().expect("count"))
        .collect();
    assert_eq!(counts.len(), 6);
    assert_eq!(counts.iter().max(), Some(&2), "{counts:?}");
    assert!(
        took >= Duration::from_millis(850),
        "three rounds of two: {took:?}"
    );
}

/// A worker executable that is open for writing for a moment ("Text file busy": being
/// replaced, or another thread forked while writing it, which made this suite flaky) is
/// started once it is free again, not answered as unavailable.
#[tokio::test]
async fn a_worker_busy_for_a_moment_is_started_when_it_is_free() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("busy");
    std::fs::write(&path, "#!/bin/sh\ncat >/dev/null; echo '{not json'\n").expect("script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let writer = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("open for writing");
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(60));
        drop(writer);
    });
    let got = Inspector::new(WorkerConfig::new(path))
        .inspect(Arc::new(text_pdf()))
        .await;
    release.join().expect("release");
    assert!(
        matches!(&got, Err(InspectError::Refused(p)) if p.code == "unreadable_file"),
        "the stand-in ran: {got:?}"
    );
}

/// Whatever way a worker dies (a signal from a crash or an abort, a hang, garbage on its
/// output), the caller gets a refusal in time and goes on; checked with stand-in workers.
#[tokio::test]
async fn a_worker_that_crashes_hangs_or_babbles_is_a_refusal() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    let cases = [
        ("segfault", "kill -SEGV $$", "unreadable_file"),
        ("abort", "kill -ABRT $$", "unreadable_file"),
        ("hang", "exec sleep 30", "inspection_timeout"),
        (
            "garbage",
            "cat >/dev/null; echo '{not json'",
            "unreadable_file",
        ),
    ];
    for (name, script, code) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).expect("script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let ins = Inspector::new(WorkerConfig::new(path));
        let started = Instant::now();
        let got = ins.inspect(Arc::new(text_pdf())).await;
        assert!(
            matches!(&got, Err(InspectError::Refused(p)) if p.code == code),
            "{name}: {got:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(2), "{name}");
    }
    // And the real worker still answers afterwards.
    let r = inspector()
        .inspect(Arc::new(text_pdf()))
        .await
        .expect("pdf");
    assert!(r.problems.is_empty());
}

/// The wall clock ends only a stuck worker: one that is computing, however long the machine
/// makes it wait for a CPU, is ended by its CPU limit, so a file's answer does not depend on
/// the load. With a wall-clock limit far below what any inspection takes, a valid file is
/// still accepted and a bomb still gets its own refusal, every time.
#[tokio::test]
async fn the_wall_clock_does_not_decide_a_file_that_is_being_inspected() {
    let ins = Inspector::new(WorkerConfig {
        wall: Duration::from_millis(10),
        ..WorkerConfig::new(env!("CARGO_BIN_EXE_accredo").into())
    });
    let bomb = Arc::new(pdf(flate_bomb(), Some("FlateDecode")));
    let valid = Arc::new(text_pdf());
    let runs = (0..3).flat_map(|_| [ins.inspect(valid.clone()), ins.inspect(bomb.clone())]);
    let got = futures::future::join_all(runs).await;
    for (i, pair) in got.chunks(2).enumerate() {
        assert!(
            matches!(&pair[0], Ok(r) if r.problems.is_empty()),
            "run {i}, valid: {:?}",
            pair[0]
        );
        assert!(
            matches!(&pair[1], Err(InspectError::Refused(p)) if p.code == "unreadable_file"),
            "run {i}, bomb: {:?}",
            pair[1]
        );
    }
}

/// A stand-in worker that reads its input, then takes `secs` and answers garbage.
fn slow_worker(dir: &std::path::Path, secs: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("slow-worker");
    std::fs::write(
        &path,
        format!("#!/bin/sh\ncat >/dev/null\nsleep {secs}\necho '{{not json'\n"),
    )
    .expect("script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// The wait for a slot is bounded on its own: past it, or with the queue of waiting uploads
/// full, the answer is "busy", never a verdict on the file.
#[tokio::test]
async fn the_wait_for_a_slot_is_bounded_and_answered_as_busy() {
    let dir = tempfile::tempdir().expect("dir");
    // Generous spacing, so that a loaded machine (CI runs this four times, beside builds)
    // cannot reorder the three arrivals: the running inspection takes 3 s, the wait is
    // bounded at 1 s, arrivals are 400 ms apart.
    let ins = Inspector::new(WorkerConfig {
        parallel: 1,
        max_waiting: 1,
        slot_wait: Duration::from_millis(1_000),
        // The stand-in worker sleeps (it is not stuck): let it.
        wall: Duration::from_secs(5),
        wall_cap: Duration::from_secs(10),
        ..WorkerConfig::new(slow_worker(dir.path(), "3"))
    });
    let file = Arc::new(text_pdf());
    let timed = |delay: u64| {
        let (ins, file) = (ins.clone(), file.clone());
        async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let started = Instant::now();
            (ins.inspect(file).await, started.elapsed())
        }
    };
    // One runs, one waits (and gives up), one finds the queue full.
    let (running, waiting, turned_away) = tokio::join!(timed(0), timed(400), timed(800));
    assert!(
        matches!(&running.0, Err(InspectError::Refused(p)) if p.code == "unreadable_file"),
        "{running:?}"
    );
    assert_eq!(waiting.0, Err(InspectError::Busy));
    assert!(
        waiting.1 >= Duration::from_millis(1_000) && waiting.1 < Duration::from_millis(2_500),
        "{waiting:?}"
    );
    assert_eq!(turned_away.0, Err(InspectError::Busy));
    assert!(
        turned_away.1 < Duration::from_millis(1_000),
        "turned away at once, not after the wait for a slot: {turned_away:?}"
    );
}

mod over_http {
    use super::{enormous_png, image, text_pdf};
    use crate::support::{TestApp, json_of};
    use reqwest::multipart::{Form, Part};
    use serde_json::Value;

    async fn upload(
        app: &TestApp,
        token: &str,
        case: &str,
        ty: Option<&str>,
        name: &str,
        bytes: Option<Vec<u8>>,
    ) -> (u16, Value) {
        let (status, _, body) =
            upload_to(&app.client, &app.base, token, case, ty, name, bytes).await;
        (status, body)
    }

    /// An upload to the server at `base` through `client`: status, headers, JSON body.
    async fn upload_to(
        client: &reqwest::Client,
        base: &str,
        token: &str,
        case: &str,
        ty: Option<&str>,
        name: &str,
        bytes: Option<Vec<u8>>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut form = Form::new();
        if let Some(ty) = ty {
            form = form.text("type", ty.to_owned());
        }
        if let Some(bytes) = bytes {
            form = form.part("file", Part::bytes(bytes).file_name(name.to_owned()));
        }
        let res = client
            .post(format!("{base}/api/v1/cases/{case}/documents"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("upload");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        (status, headers, res.json().await.unwrap_or(Value::Null))
    }

    /// Blobs in the app's store (local directory or S3 bucket).
    async fn blob_count(app: &TestApp) -> usize {
        use futures_util::StreamExt;
        app.state
            .documents
            .blobs
            .list()
            .map(|b| b.expect("list"))
            .count()
            .await
    }

    #[tokio::test]
    async fn upload_list_and_download_with_safe_headers() {
        let app = TestApp::spawn().await;
        let me = app.specialist("doc-owner");
        let (case, v) = app.create_case(&me, "periodic_accreditation").await;
        let pdf = text_pdf();
        let (status, doc) = upload(
            &app,
            &me,
            &case,
            Some("diploma"),
            "Диплом.pdf",
            Some(pdf.clone()),
        )
        .await;
        assert_eq!(status, 201, "{doc}");
        assert_eq!(
            (doc["status"].as_str(), doc["content_type"].as_str()),
            (Some("valid"), Some("application/pdf"))
        );
        let listed = json_of(
            app.get(&format!("/api/v1/cases/{case}/documents"), &me)
                .await,
        )
        .await;
        assert_eq!(listed[0]["id"], doc["id"]);
        let case_now = json_of(app.get(&format!("/api/v1/cases/{case}"), &me).await).await;
        assert_eq!(
            case_now["version"].as_i64(),
            Some(v + 1),
            "a document changes the case"
        );

        let res = app
            .get(
                &format!(
                    "/api/v1/cases/{case}/documents/{}",
                    doc["id"].as_str().expect("id")
                ),
                &me,
            )
            .await;
        assert_eq!(res.status(), 200);
        let h = res.headers().clone();
        assert_eq!(h["content-type"], "application/pdf");
        assert_eq!(h["x-content-type-options"], "nosniff");
        let cd = h["content-disposition"].to_str().expect("cd");
        assert!(
            cd.starts_with("attachment") && cd.contains("filename*=UTF-8''"),
            "{cd}"
        );
        assert_eq!(res.bytes().await.expect("body").to_vec(), pdf);

        // Nobody else sees it: another specialist, or the commission before submission.
        let other = app.specialist("doc-stranger");
        let res = app
            .get(
                &format!(
                    "/api/v1/cases/{case}/documents/{}",
                    doc["id"].as_str().expect("id")
                ),
                &other,
            )
            .await;
        assert_eq!(res.status(), 404);

        // A readable but poor scan is kept, marked invalid with the reason.
        let (status, doc) = upload(
            &app,
            &me,
            &case,
            Some("identity_document"),
            "passport.jpg",
            Some(image(1240, 1754, ::image::ImageFormat::Jpeg)),
        )
        .await;
        assert_eq!(status, 201, "{doc}");
        assert_eq!(doc["status"], "invalid");
        assert_eq!(doc["problems"][0]["code"], "low_resolution");
        assert_eq!(blob_count(&app).await, 2);

        // Deleting from a draft: gone from the list and from download, audited.
        let first = listed[0]["id"].as_str().expect("id").to_owned();
        let res = app
            .call(
                reqwest::Method::DELETE,
                &format!("/api/v1/cases/{case}/documents/{first}"),
                Some(&me),
                &[],
                None,
            )
            .await;
        assert_eq!(res.status(), 204);
        let listed = json_of(
            app.get(&format!("/api/v1/cases/{case}/documents"), &me)
                .await,
        )
        .await;
        assert!(
            listed
                .as_array()
                .is_some_and(|l| l.iter().all(|d| d["id"] != first.as_str()))
        );
        let res = app
            .get(&format!("/api/v1/cases/{case}/documents/{first}"), &me)
            .await;
        assert_eq!(res.status(), 404);
        {
            use accredo::store::schema::audit_events as ae;
            use diesel::prelude::*;
            let mut conn = app.state.store.conn().expect("conn");
            let kinds: Vec<String> = ae::table
                .filter(ae::case_id.eq(&case))
                .order(ae::id.asc())
                .select(ae::kind)
                .load(&mut *conn)
                .expect("audit");
            assert_eq!(
                kinds
                    .iter()
                    .filter(|k| k.starts_with("document."))
                    .collect::<Vec<_>>(),
                ["document.uploaded", "document.uploaded", "document.deleted"]
            );
        }

        // Not once the case has been submitted.
        let (sub, v) = app.create_case(&me, "periodic_accreditation").await;
        let res = app
            .patch_form(&me, &sub, v, crate::support::complete_form())
            .await;
        assert_eq!(res.status(), 200);
        let (status, doc) =
            upload(&app, &me, &sub, Some("diploma"), "d.pdf", Some(text_pdf())).await;
        assert_eq!(status, 201, "{doc}");
        let v = app.attach_required(&me, &sub).await;
        let signed = app.signed(&me, &sub).await;
        app.step(&me, &sub, "submit", v, signed).await;
        let res = app
            .call(
                reqwest::Method::DELETE,
                &format!(
                    "/api/v1/cases/{sub}/documents/{}",
                    doc["id"].as_str().expect("id")
                ),
                Some(&me),
                &[],
                None,
            )
            .await;
        assert_eq!(res.status(), 409);
    }

    async fn replace(
        app: &TestApp,
        token: &str,
        case: &str,
        doc: &str,
        name: &str,
        bytes: Vec<u8>,
    ) -> (u16, Value) {
        let form = Form::new().part("file", Part::bytes(bytes).file_name(name.to_owned()));
        let res = app
            .client
            .put(format!("{}/api/v1/cases/{case}/documents/{doc}", app.base))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("replace");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    #[tokio::test]
    async fn a_document_can_be_replaced_within_48_hours_of_its_first_upload() {
        let app = TestApp::spawn().await;
        let me = app.specialist("doc-replacer");
        let (case, _) = app.create_case(&me, "periodic_accreditation").await;
        let (status, old) = upload(
            &app,
            &me,
            &case,
            Some("diploma"),
            "scan.jpg",
            Some(image(1240, 1754, ::image::ImageFormat::Jpeg)),
        )
        .await;
        assert_eq!(
            (status, old["status"].as_str()),
            (201, Some("invalid")),
            "{old}"
        );
        let id = old["id"].as_str().expect("id").to_owned();

        app.clock.advance(chrono::Duration::hours(47));
        let me = app.specialist("doc-replacer");
        let pdf = text_pdf();
        let (status, new) = replace(&app, &me, &case, &id, "better.pdf", pdf.clone()).await;
        assert_eq!(status, 200, "{new}");
        assert_eq!(
            (new["id"].as_str(), new["status"].as_str()),
            (Some(id.as_str()), Some("valid"))
        );
        assert_ne!(new["sha256"], old["sha256"]);
        assert_eq!(
            new["uploaded_at"], old["uploaded_at"],
            "the first upload time stays"
        );
        let res = app
            .get(&format!("/api/v1/cases/{case}/documents/{id}"), &me)
            .await;
        assert_eq!(res.bytes().await.expect("body").to_vec(), pdf);
        // The same checks as an upload.
        let (status, body) = replace(&app, &me, &case, &id, "x.jpg", text_pdf()).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("extension_mismatch"))
        );

        app.clock.advance(chrono::Duration::hours(2));
        let me = app.specialist("doc-replacer");
        let (status, body) = replace(&app, &me, &case, &id, "late.pdf", text_pdf()).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (409, Some("replace_window_closed")),
            "{body}"
        );
    }

    fn row<'a>(report: &'a Value, item: &str) -> &'a Value {
        report["rows"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["item"] == item))
            .unwrap_or_else(|| panic!("no row {item} in {report}"))
    }

    #[tokio::test]
    async fn readiness_lists_what_is_missing_before_submission() {
        let app = TestApp::spawn().await;
        let me = app.specialist("doc-ready");
        let (case, v) = app.create_case(&me, "periodic_accreditation").await;
        let path = format!("/api/v1/cases/{case}/readiness");
        let report = json_of(app.get(&path, &me).await).await;
        assert_eq!(report["ready"], false);
        assert_eq!(row(&report, "form")["code"], "form_incomplete");
        assert_eq!(row(&report, "registry")["code"], "ok");
        let diploma = row(&report, "document:diploma");
        assert_eq!(
            (diploma["ready"].as_bool(), diploma["code"].as_str()),
            (Some(false), Some("document_missing"))
        );
        assert_eq!(
            diploma["message"],
            "Приложите документ «Документ об образовании»"
        );
        assert!(
            report["rows"].as_array().is_some_and(|r| r
                .iter()
                .all(|x| x["item"] != "document:name_change_document")),
            "optional types are not listed"
        );

        let res = app
            .patch_form(&me, &case, v, crate::support::complete_form())
            .await;
        assert_eq!(res.status(), 200);
        let (status, _) =
            upload(&app, &me, &case, Some("diploma"), "d.pdf", Some(text_pdf())).await;
        assert_eq!(status, 201);
        let (status, _) = upload(
            &app,
            &me,
            &case,
            Some("identity_document"),
            "p.jpg",
            Some(image(1240, 1754, ::image::ImageFormat::Jpeg)),
        )
        .await;
        assert_eq!(status, 201);
        let report = json_of(app.get(&path, &me).await).await;
        assert_eq!(row(&report, "form")["ready"], true);
        assert_eq!(row(&report, "document:diploma")["code"], "ok");
        let id = row(&report, "document:identity_document");
        assert_eq!(id["code"], "document_invalid");
        assert!(
            id["message"]
                .as_str()
                .is_some_and(|m| m.contains("разрешение 149 dpi")),
            "{id}"
        );
        assert_eq!(report["ready"], false);
    }

    #[tokio::test]
    async fn the_server_keeps_serving_while_a_hostile_file_is_inspected() {
        let app = TestApp::spawn().await;
        let me = app.specialist("doc-bomber");
        let (case, _) = app.create_case(&me, "periodic_accreditation").await;
        let bomb = super::pdf(super::flate_bomb(), Some("FlateDecode"));
        let health = async {
            let mut slowest = std::time::Duration::ZERO;
            for _ in 0..10 {
                let t = std::time::Instant::now();
                let res = app
                    .client
                    .get(format!("{}/healthz", app.base))
                    .send()
                    .await
                    .expect("health");
                assert_eq!(res.status(), 200);
                slowest = slowest.max(t.elapsed());
                tokio::time::sleep(std::time::Duration::from_millis(30)).await;
            }
            slowest
        };
        let ((status, body), slowest) = tokio::join!(
            upload(&app, &me, &case, Some("diploma"), "bomb.pdf", Some(bomb)),
            health
        );
        let refused = status == 422
            && (body["code"] == "unreadable_file" || body["code"] == "inspection_timeout");
        let kept_invalid = status == 201 && body["status"] == "invalid";
        assert!(refused || kept_invalid, "{status} {body}");
        assert!(
            slowest < std::time::Duration::from_millis(500),
            "health took {slowest:?}"
        );
    }

    /// (what, type, file name, content, status, code)
    type Refusal<'a> = (
        &'a str,
        Option<&'a str>,
        &'a str,
        Option<Vec<u8>>,
        u16,
        &'a str,
    );

    #[tokio::test]
    async fn bad_uploads_are_refused_before_anything_is_kept() {
        let app = TestApp::spawn().await;
        let me = app.specialist("doc-refused");
        let (case, _) = app.create_case(&me, "periodic_accreditation").await;
        let jpeg = image(64, 64, ::image::ImageFormat::Jpeg);
        let mut polyglot = jpeg.clone();
        polyglot.splice(20..20, b"%PDF-1.4 ".iter().copied());
        let cases: Vec<Refusal<'_>> = vec![
            (
                "over the size",
                Some("identity_document"),
                "a.pdf",
                Some(vec![b'%'; 2_100_000]),
                413,
                "file_too_large",
            ),
            (
                "lying extension",
                Some("diploma"),
                "scan.jpg",
                Some(text_pdf()),
                400,
                "extension_mismatch",
            ),
            (
                "format the type refuses",
                Some("professional_activity_report"),
                "report.jpg",
                Some(jpeg.clone()),
                415,
                "format_not_allowed",
            ),
            (
                "not a document",
                Some("diploma"),
                "x.pdf",
                Some(b"MZ\x90\x00".to_vec()),
                415,
                "unsupported_format",
            ),
            (
                "polyglot",
                Some("diploma"),
                "x.jpg",
                Some(polyglot),
                415,
                "ambiguous_format",
            ),
            (
                "empty",
                Some("diploma"),
                "x.pdf",
                Some(Vec::new()),
                400,
                "empty_file",
            ),
            (
                "enormous PNG",
                Some("diploma"),
                "x.png",
                Some(enormous_png()),
                422,
                "image_too_large",
            ),
            (
                "no file part",
                Some("diploma"),
                "x.pdf",
                None,
                400,
                "file_missing",
            ),
            (
                "no type",
                None,
                "x.pdf",
                Some(text_pdf()),
                400,
                "document_type_missing",
            ),
            (
                "unknown type",
                Some("horoscope"),
                "x.pdf",
                Some(text_pdf()),
                400,
                "unknown_document_type",
            ),
        ];
        for (name, ty, file, bytes, status, code) in cases {
            let (got, body) = upload(&app, &me, &case, ty, file, bytes).await;
            assert_eq!(
                (got, body["code"].as_str()),
                (status, Some(code)),
                "{name}: {body}"
            );
            assert!(
                body["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{name}"
            );
        }
        assert_eq!(blob_count(&app).await, 0, "nothing kept");
        let listed = json_of(
            app.get(&format!("/api/v1/cases/{case}/documents"), &me)
                .await,
        )
        .await;
        assert_eq!(listed.as_array().map(Vec::len), Some(0));

        // Count limit, then a case that is no longer editable.
        let (status, _) = upload(
            &app,
            &me,
            &case,
            Some("identity_document"),
            "p.pdf",
            Some(text_pdf()),
        )
        .await;
        assert_eq!(status, 201);
        let (status, body) = upload(
            &app,
            &me,
            &case,
            Some("identity_document"),
            "p2.pdf",
            Some(text_pdf()),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (409, Some("too_many_files")),
            "{body}"
        );
        let (submitted, _) = app.submitted_case(&me).await;
        let (status, body) = upload(
            &app,
            &me,
            &submitted,
            Some("diploma"),
            "d.pdf",
            Some(text_pdf()),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (409, Some("case_not_editable")),
            "{body}"
        );
    }

    fn other_pdf(text: &str) -> Vec<u8> {
        crate::support::pdf(
            format!("BT /F1 24 Tf 100 700 Td ({text}) Tj ET").into_bytes(),
            None,
        )
    }

    #[tokio::test]
    async fn sweep_removes_only_blobs_no_live_document_refers_to() {
        use accredo::documents::sweep::{SweepReport, sweep};
        let app = TestApp::spawn().await;
        let me = app.specialist("doc-sweeper");
        let (a, _) = app.create_case(&me, "periodic_accreditation").await;
        let (b, _) = app.create_case(&me, "periodic_accreditation").await;
        let id_of = |body: &Value| body["id"].as_str().expect("id").to_owned();
        // X on both cases; Y deleted; Z replaced by W.
        let (_, x_on_a) = upload(&app, &me, &a, Some("diploma"), "x.pdf", Some(text_pdf())).await;
        let (_, x_on_b) = upload(&app, &me, &b, Some("diploma"), "x.pdf", Some(text_pdf())).await;
        let (_, y) = upload(
            &app,
            &me,
            &a,
            Some("continuing_education_certificate"),
            "y.pdf",
            Some(other_pdf("Y")),
        )
        .await;
        let (_, z) = upload(
            &app,
            &me,
            &a,
            Some("personal_data_consent"),
            "z.pdf",
            Some(other_pdf("Z")),
        )
        .await;
        for doc in [&x_on_a, &x_on_b, &y, &z] {
            assert_eq!(doc["status"], "valid", "{doc}");
        }
        let (status, w) = replace(&app, &me, &a, &id_of(&z), "w.pdf", other_pdf("W")).await;
        assert_eq!(status, 200, "{w}");
        for (case, doc) in [(&a, id_of(&y)), (&a, id_of(&x_on_a))] {
            let res = app
                .call(
                    reqwest::Method::DELETE,
                    &format!("/api/v1/cases/{case}/documents/{doc}"),
                    Some(&me),
                    &[],
                    None,
                )
                .await;
            assert_eq!(res.status(), 204);
        }
        assert_eq!(blob_count(&app).await, 4, "X, Y, Z, W");
        let blobs = &app.state.documents.blobs;
        let store = &app.state.store;
        // Blob ages are measured on the store's clock (the server's is days away from it).
        let now = blobs.now().await.expect("store clock") + chrono::Duration::seconds(5);

        // Within the grace period nothing goes, referenced or not.
        let report = sweep(blobs, store, now, chrono::Duration::minutes(60), false)
            .await
            .expect("sweep");
        assert_eq!(
            report,
            SweepReport {
                blobs: 4,
                recent: 4,
                ..SweepReport::default()
            }
        );
        // A dry run counts Y and Z and removes nothing.
        let report = sweep(blobs, store, now, chrono::Duration::zero(), true)
            .await
            .expect("dry run");
        assert_eq!((report.removed, report.referenced), (2, 2));
        assert_eq!(
            report.removed_bytes,
            (other_pdf("Y").len() + other_pdf("Z").len()) as u64
        );
        assert_eq!(blob_count(&app).await, 4);
        // The sweep removes Y and Z; X (still on case B) and W stay and download.
        let report = sweep(blobs, store, now, chrono::Duration::zero(), false)
            .await
            .expect("sweep");
        assert_eq!((report.blobs, report.removed, report.referenced), (4, 2, 2));
        assert_eq!(blob_count(&app).await, 2);
        for (case, doc, bytes) in [
            (&b, id_of(&x_on_b), text_pdf()),
            (&a, id_of(&w), other_pdf("W")),
        ] {
            let res = app
                .get(&format!("/api/v1/cases/{case}/documents/{doc}"), &me)
                .await;
            assert_eq!(res.status(), 200);
            assert_eq!(res.bytes().await.expect("body").to_vec(), bytes);
        }
        // Uploading Y's content again stores it again.
        let (status, again) = upload(
            &app,
            &me,
            &a,
            Some("continuing_education_certificate"),
            "y.pdf",
            Some(other_pdf("Y")),
        )
        .await;
        assert_eq!(status, 201, "{again}");
        let res = app
            .get(
                &format!("/api/v1/cases/{a}/documents/{}", id_of(&again)),
                &me,
            )
            .await;
        assert_eq!(res.bytes().await.expect("body").to_vec(), other_pdf("Y"));
        let report = sweep(blobs, store, now, chrono::Duration::zero(), false)
            .await
            .expect("sweep");
        assert_eq!((report.blobs, report.removed), (3, 0));
    }

    /// A JPEG or PNG with a whole PDF after the end of its image (EOI, IEND) opens as a PDF
    /// in some readers: refused as two formats at once, and nothing is kept.
    #[tokio::test]
    async fn an_image_with_a_pdf_after_its_end_is_refused() {
        let app = TestApp::spawn().await;
        let me = app.specialist("doc-polyglot");
        let (case, _) = app.create_case(&me, "periodic_accreditation").await;
        for (name, format) in [
            ("scan.jpg", ::image::ImageFormat::Jpeg),
            ("scan.png", ::image::ImageFormat::Png),
        ] {
            let mut polyglot = noisy_image(128, 128, format);
            // Past the first kilobyte, where a PDF header was already looked for.
            assert!(polyglot.len() > 4096, "{}", polyglot.len());
            polyglot.extend_from_slice(&text_pdf());
            let (status, body) =
                upload(&app, &me, &case, Some("diploma"), name, Some(polyglot)).await;
            assert_eq!(
                (status, body["code"].as_str()),
                (415, Some("ambiguous_format")),
                "{name}: {body}"
            );
        }
        assert_eq!(blob_count(&app).await, 0, "nothing kept");
        // The same images without the tail are fine.
        let (status, body) = upload(
            &app,
            &me,
            &case,
            Some("diploma"),
            "plain.jpg",
            Some(noisy_image(128, 128, ::image::ImageFormat::Jpeg)),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }

    /// An image of pseudo-random grey pixels (which does not compress to a few bytes).
    fn noisy_image(w: u32, h: u32, format: ::image::ImageFormat) -> Vec<u8> {
        let mut state = 0x2545_f491_u32;
        let img = ::image::GrayImage::from_fn(w, h, |_, _| {
            state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            ::image::Luma([(state >> 16) as u8])
        });
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, format).expect("encode");
        out.into_inner()
    }

    /// True when `message` is Russian: Cyrillic, and no Latin words besides the names of the
    /// form's parts and of the media type.
    fn is_russian(message: &str) -> bool {
        let rest = ["multipart/form-data", "Content-Type", "type", "file"]
            .iter()
            .fold(message.to_owned(), |m, allowed| m.replace(allowed, ""));
        message
            .chars()
            .any(|c| ('а'..='я').contains(&c.to_lowercase().next().unwrap_or(c)))
            && !rest.chars().any(|c| c.is_ascii_alphabetic())
    }

    /// (what, Content-Type, body, status, code)
    type BadForm<'a> = (&'a str, Option<&'a str>, Vec<u8>, u16, &'a str);

    /// A request that is not a proper multipart form gets our code and a Russian message,
    /// never the multipart library's English text.
    #[tokio::test]
    async fn a_broken_form_is_refused_with_our_code_in_russian() {
        let app = TestApp::spawn().await;
        let me = app.specialist("doc-bad-form");
        let (case, _) = app.create_case(&me, "periodic_accreditation").await;
        let url = format!("{}/api/v1/cases/{case}/documents?type=diploma", app.base);
        let cases: Vec<BadForm<'_>> = vec![
            (
                "JSON instead of a form",
                Some("application/json"),
                b"{}".to_vec(),
                415,
                "multipart_expected",
            ),
            ("no content type", None, b"x".to_vec(), 415, "multipart_expected"),
            (
                "no boundary",
                Some("multipart/form-data"),
                b"x".to_vec(),
                400,
                "invalid_multipart",
            ),
            (
                "a part without Content-Disposition",
                Some("multipart/form-data; boundary=XyZ"),
                b"--XyZ\r\nContent-Type: text/plain\r\n\r\nhello\r\n--XyZ--\r\n".to_vec(),
                400,
                "invalid_multipart",
            ),
            (
                "cut off before its end",
                Some("multipart/form-data; boundary=XyZ"),
                b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n\r\n%PDF-1.4 and then noth"
                    .to_vec(),
                400,
                "invalid_multipart",
            ),
        ];
        for (name, content_type, body, status, code) in cases {
            let mut req = app.client.post(&url).bearer_auth(&me).body(body);
            if let Some(ct) = content_type {
                req = req.header("Content-Type", ct);
            }
            let res = req.send().await.expect("send");
            let got = res.status().as_u16();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            assert_eq!(
                (got, body["code"].as_str()),
                (status, Some(code)),
                "{name}: {body}"
            );
            let message = body["message"].as_str().unwrap_or_default();
            assert!(is_russian(message), "{name}: {message}");
        }
        assert_eq!(blob_count(&app).await, 0, "nothing kept");
    }

    /// Sends a multipart upload the way clients without `Expect: 100-continue` do (browsers'
    /// fetch, Python's http.client): the head and the whole body written at once, then the
    /// answer read. Returns the status and the JSON body; fails if the server closed the
    /// connection before the client could read its answer.
    fn send_all_then_read(
        base: &str,
        method: &str,
        path: &str,
        token: &str,
        ty: &str,
        size: usize,
    ) -> (u16, Value) {
        use std::io::{Read, Write};
        let boundary = "accredo-raw-boundary";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"type\"\r\n\r\n{ty}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.pdf\"\r\n\
             Content-Type: application/pdf\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(b"%PDF-1.4\n");
        body.resize(body.len() + size, b'%');
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let addr = base.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream
            .set_write_timeout(Some(std::time::Duration::from_secs(30)))
            .expect("timeout");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .expect("timeout");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: multipart/form-data; boundary={boundary}\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).expect("write the head");
        stream.write_all(&body).unwrap_or_else(|e| {
            panic!("the server closed before the {size}-byte body was sent: {e}")
        });
        let mut answer = Vec::new();
        stream
            .read_to_end(&mut answer)
            .unwrap_or_else(|e| panic!("the answer could not be read: {e}"));
        let text = String::from_utf8_lossy(&answer);
        let (head, json) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, serde_json::from_str(json).unwrap_or(Value::Null))
    }

    /// A file over its type's limit sent by a client that writes the whole request before
    /// reading: it reads a 413 naming the type's limit (not the JSON body limit), whether the
    /// request is a little over the limit or over the largest upload.
    #[tokio::test]
    async fn a_client_that_sends_it_all_reads_the_413_with_the_types_limit() {
        let app = TestApp::spawn().await;
        let me = app.specialist("doc-too-big");
        let (case, _) = app.create_case(&me, "periodic_accreditation").await;
        let (other, _) = app.create_case(&me, "periodic_accreditation").await;
        let (status, doc) = upload(
            &app,
            &me,
            &other,
            Some("identity_document"),
            "p.pdf",
            Some(text_pdf()),
        )
        .await;
        assert_eq!(status, 201, "{doc}");
        let uploads = format!("/api/v1/cases/{case}/documents");
        let replace = format!(
            "/api/v1/cases/{other}/documents/{}",
            doc["id"].as_str().expect("id")
        );
        let send = |method: &'static str, path: &str, ty: &'static str, size: usize| {
            let (base, path, token) = (app.base.clone(), path.to_owned(), me.clone());
            tokio::task::spawn_blocking(move || {
                send_all_then_read(&base, method, &path, &token, ty, size)
            })
        };
        // A little over the type's limit, over the largest type's, and a replacement.
        for (method, path, size) in [
            ("POST", &uploads, 3_000_000),
            ("POST", &uploads, 7_000_000),
            ("PUT", &replace, 3_000_000),
        ] {
            let (status, body) = send(method, path, "identity_document", size)
                .await
                .expect("client");
            assert_eq!(
                (status, body["code"].as_str()),
                (413, Some("file_too_large")),
                "{method} {size}: {body}"
            );
            let message = body["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("не более 2 МБ"),
                "{method} {size}: {message}"
            );
        }
        // Any refusal of a form in flight is read the same way.
        let (status, body) = send("POST", &uploads, "horoscope", 3_000_000)
            .await
            .expect("client");
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("unknown_document_type")),
            "{body}"
        );
        assert_eq!(blob_count(&app).await, 1, "nothing more kept");
        let (status, body) =
            upload(&app, &me, &case, Some("diploma"), "d.pdf", Some(text_pdf())).await;
        assert_eq!(status, 201, "and the server goes on: {body}");
    }

    /// The answer for a file depends on the file, not on the load: with ten Flate bombs in
    /// flight (and the machine's CPUs busy) a valid upload is accepted, and each bomb gets the
    /// code it gets alone, race after race.
    #[tokio::test]
    async fn a_files_answer_does_not_depend_on_how_many_bombs_are_in_flight() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let app = TestApp::spawn().await;
        let me = app.specialist("doc-crowd");
        let bomb = super::pdf(super::flate_bomb(), Some("FlateDecode"));
        let mut cases = Vec::new();
        for _ in 0..11 {
            cases.push(app.create_case(&me, "periodic_accreditation").await.0);
        }
        let alone = upload(
            &app,
            &me,
            &cases[0],
            Some("diploma"),
            "bomb.pdf",
            Some(bomb.clone()),
        )
        .await;
        let alone = (alone.0, alone.1["code"].clone());
        assert_eq!(alone.0, 422, "{alone:?}");
        // A connection per upload: on a starved machine a pooled connection may be closed
        // by the server's keep-alive timer just as it is reused.
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        let (app, me, client) = (&app, &me, &client);
        // Other work on the machine (other tests, other processes) is simulated by a busy
        // thread per core, so the workers get only a share of the CPU.
        let stop = Arc::new(AtomicBool::new(false));
        let busy: Vec<_> = (0..2 * std::thread::available_parallelism().map_or(2, |n| n.get()))
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        for race in 0..2 {
            let bombs = futures::future::join_all(cases[..10].iter().map(|case| {
                let bomb = bomb.clone();
                async move {
                    let (status, _, body) = upload_to(
                        client,
                        &app.base,
                        me,
                        case,
                        Some("diploma"),
                        "bomb.pdf",
                        Some(bomb),
                    )
                    .await;
                    (status, body["code"].clone())
                }
            }));
            let valid = async {
                // Behind the bombs in the queue.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                let started = std::time::Instant::now();
                let (status, _, body) = upload_to(
                    client,
                    &app.base,
                    me,
                    &cases[10],
                    Some("continuing_education_certificate"),
                    "c.pdf",
                    Some(text_pdf()),
                )
                .await;
                let got = (status, body);
                (got, started.elapsed())
            };
            let (bombs, ((status, body), took)) = tokio::join!(bombs, valid);
            assert_eq!(
                (status, body["status"].as_str()),
                (201, Some("valid")),
                "race {race}: the valid file after {took:?}: {body}"
            );
            for (i, got) in bombs.iter().enumerate() {
                assert_eq!(got, &alone, "race {race}, bomb {i}");
            }
        }
        stop.store(true, Ordering::Relaxed);
        for b in busy {
            b.join().expect("busy thread");
        }
    }

    /// With no slot for it in time, an upload is answered 503 `inspection_busy` with
    /// `Retry-After`: the load's answer, not the file's.
    #[tokio::test]
    async fn an_upload_that_finds_the_inspection_queue_full_is_told_to_retry() {
        use accredo::documents::worker::{Inspector, WorkerConfig};
        let app = TestApp::spawn().await;
        let me = app.specialist("doc-queue");
        let dir = tempfile::tempdir().expect("dir");
        let documents = accredo::documents::Documents {
            inspector: Inspector::new(WorkerConfig {
                parallel: 1,
                max_waiting: 0,
                ..WorkerConfig::new(super::slow_worker(dir.path(), "1"))
            }),
            ..(*app.state.documents).clone()
        };
        let base = crate::support::serve_with_documents(&app, documents);
        let (a, _) = app.create_case(&me, "periodic_accreditation").await;
        let (b, _) = app.create_case(&me, "periodic_accreditation").await;
        let send = |case: String, delay: u64| {
            let (base, me, client) = (base.clone(), me.clone(), app.client.clone());
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                upload_to(
                    &client,
                    &base,
                    &me,
                    &case,
                    Some("diploma"),
                    "d.pdf",
                    Some(text_pdf()),
                )
                .await
            }
        };
        let (first, second) = tokio::join!(send(a, 0), send(b, 300));
        // The stand-in worker answers garbage: the first file's own refusal.
        assert_eq!(
            (first.0, first.2["code"].as_str()),
            (422, Some("unreadable_file")),
            "{}",
            first.2
        );
        assert_eq!(
            (second.0, second.2["code"].as_str()),
            (503, Some("inspection_busy")),
            "{}",
            second.2
        );
        assert_eq!(
            second.1.get("retry-after").and_then(|v| v.to_str().ok()),
            Some("5")
        );
        assert!(
            second.2["message"]
                .as_str()
                .is_some_and(|m| m.contains("ещё раз")),
            "{}",
            second.2
        );
        assert_eq!(blob_count(&app).await, 0, "nothing kept");
    }
}
