//! Inspection of an uploaded file: what it really is (from its bytes, never its name), and
//! whether it is a usable scan or document: PDF parses, is not encrypted, has pages and either
//! text or scans of at least 300 dpi at A4; JPEG/PNG decode within limits and reach 300 dpi
//! (from their metadata, otherwise against A4).
//!
//! These parsers meet untrusted bytes, so [`inspect`] runs in a worker process with CPU,
//! memory and time limits (see [`super::worker`]); nothing here may be called in the server.

use serde::{Deserialize, Serialize};

/// What a file is, judged from its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// PDF.
    Pdf,
    /// JPEG.
    Jpeg,
    /// PNG.
    Png,
}

impl Format {
    /// The true content type.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Pdf => "application/pdf",
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
        }
    }

    /// File name extensions that agree with the content.
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Format::Pdf => &["pdf"],
            Format::Jpeg => &["jpg", "jpeg"],
            Format::Png => &["png"],
        }
    }
}

/// One thing wrong with a file: a stable code and what to do, in Russian.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Problem {
    /// Stable code.
    pub code: String,
    /// Russian message.
    pub message: String,
}

impl Problem {
    fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// The inspection result stored with a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Report {
    /// The format found in the content.
    pub format: Format,
    /// Pages (PDF) or 1 (an image).
    pub pages: u32,
    /// Width in pixels of the image or of the lowest-resolution scan in a PDF.
    pub width_px: Option<u32>,
    /// Height in pixels, likewise.
    pub height_px: Option<u32>,
    /// Resolution found (from metadata, or against A4).
    pub dpi: Option<u32>,
    /// A PDF with a text layer.
    pub has_text: bool,
    /// Empty when the file is acceptable.
    pub problems: Vec<Problem>,
}

/// Limits on what the decoders may do.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest image side in pixels.
    pub max_side: u32,
    /// Largest allocation the image decoder may make, in bytes.
    pub max_alloc: u64,
    /// Least acceptable resolution.
    pub min_dpi: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_side: 20_000,
            max_alloc: 256 << 20,
            min_dpi: 300,
        }
    }
}

/// A4 in inches.
const A4: (f64, f64) = (8.27, 11.69);

/// Decides the format from the first bytes. A file that is two formats at once is refused: a
/// PDF header within the first kilobyte of an image (which PDF readers accept), or anything
/// after the end of the image (a whole PDF appended to a JPEG opens as a PDF in some readers).
pub fn sniff(bytes: &[u8]) -> Result<Format, Problem> {
    if bytes.is_empty() {
        return Err(Problem::new("empty_file", "Файл пустой"));
    }
    let head = &bytes[..bytes.len().min(1024)];
    let pdf_inside = head.windows(5).any(|w| w == b"%PDF-");
    let format = if bytes.starts_with(b"%PDF-") {
        Format::Pdf
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Format::Jpeg
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Format::Png
    } else {
        return Err(Problem::new(
            "unsupported_format",
            "Файл не является документом PDF или изображением JPEG/PNG",
        ));
    };
    let tail_after_image = match format {
        Format::Pdf => false,
        Format::Jpeg => jpeg_end(bytes).is_some_and(|end| has_data_after(bytes, end)),
        Format::Png => png_end(bytes).is_some_and(|end| has_data_after(bytes, end)),
    };
    if format != Format::Pdf && (pdf_inside || tail_after_image) {
        return Err(Problem::new(
            "ambiguous_format",
            "Файл одновременно похож на изображение и на PDF (или после изображения дописаны \
             другие данные): сохраните документ заново в одном формате",
        ));
    }
    Ok(format)
}

/// Whether anything but zero padding (which some scanners write) follows `end`.
fn has_data_after(bytes: &[u8], end: usize) -> bool {
    bytes
        .get(end..)
        .is_some_and(|tail| tail.iter().any(|b| *b != 0))
}

/// Where a JPEG ends: just past its EOI marker. Segments are skipped by their length (so a
/// thumbnail inside EXIF, with its own EOI, is not mistaken for the end) and entropy-coded
/// data is scanned for the next marker. `None` when the file ends first (a cut file is the
/// decoder's to refuse).
fn jpeg_end(bytes: &[u8]) -> Option<usize> {
    let mut at = 2;
    loop {
        // Fill bytes may precede a marker.
        while *bytes.get(at)? == 0xFF && *bytes.get(at + 1)? == 0xFF {
            at += 1;
        }
        if *bytes.get(at)? != 0xFF {
            return None;
        }
        let marker = *bytes.get(at + 1)?;
        match marker {
            0xD9 => return Some(at + 2),
            // Markers without a length: TEM, RSTn.
            0x01 | 0xD0..=0xD7 => at += 2,
            _ => {
                let len = usize::from(u16::from_be_bytes([
                    *bytes.get(at + 2)?,
                    *bytes.get(at + 3)?,
                ]));
                if len < 2 {
                    return None;
                }
                at += 2 + len;
                if marker == 0xDA {
                    // Entropy-coded data runs to the first marker that is neither a stuffed
                    // 0xFF00 nor a restart marker.
                    loop {
                        let next = bytes.get(at..)?.iter().position(|b| *b == 0xFF)?;
                        at += next;
                        match *bytes.get(at + 1)? {
                            0x00 | 0xD0..=0xD7 => at += 2,
                            _ => break,
                        }
                    }
                }
            }
        }
    }
}

/// Where a PNG ends: just past its IEND chunk, walking the chunks by their lengths. `None`
/// when the file ends first.
fn png_end(bytes: &[u8]) -> Option<usize> {
    let mut at = 8usize;
    loop {
        let len = u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?) as usize;
        let kind = bytes.get(at + 4..at + 8)?;
        let end = at.checked_add(12)?.checked_add(len)?;
        if end > bytes.len() {
            return None;
        }
        if kind == b"IEND" {
            return Some(end);
        }
        at = end;
    }
}

/// Inspects a file completely (in the worker process).
///
/// The parsers panic on some malformed files (pdf-extract on a reference to a missing object,
/// found by the fuzz target): such a panic is caught here and named, so the person learns the
/// file is damaged rather than that it could not be read. Aborts, stack overflows and resource
/// limits still end the worker, which the server turns into `unreadable_file`.
pub fn inspect(bytes: &[u8], limits: Limits) -> Result<Report, Problem> {
    let format = sniff(bytes)?;
    let run = std::panic::AssertUnwindSafe(|| match format {
        Format::Pdf => inspect_pdf(bytes, limits),
        f @ (Format::Jpeg | Format::Png) => inspect_image(bytes, f, limits),
    });
    std::panic::catch_unwind(run).unwrap_or_else(|_| {
        Err(match format {
            Format::Pdf => Problem::new(
                "corrupt_pdf",
                "PDF повреждён: в нём есть ссылки на отсутствующие части. Откройте и сохраните \
                 его заново (например, «Печать в PDF»)",
            ),
            Format::Jpeg | Format::Png => Problem::new(
                "corrupt_image",
                "Изображение повреждено: сохраните или отсканируйте его заново",
            ),
        })
    })
}

fn low_dpi(dpi: u32, min: u32) -> Problem {
    Problem::new(
        "low_resolution",
        format!(
            "разрешение {dpi} dpi, требуется не менее {min}: отсканируйте документ заново с разрешением не ниже {min} dpi"
        ),
    )
}

/// Resolution of `w`×`h` pixels if the page is A4 (either orientation).
fn dpi_at_a4(w: u32, h: u32) -> u32 {
    let (short, long) = (w.min(h), w.max(h));
    let dpi = (f64::from(short) / A4.0).min(f64::from(long) / A4.1);
    dpi.floor() as u32
}

fn inspect_image(bytes: &[u8], format: Format, limits: Limits) -> Result<Report, Problem> {
    use image::{ImageFormat, ImageReader};
    let mut reader = ImageReader::new(std::io::Cursor::new(bytes));
    reader.set_format(match format {
        Format::Png => ImageFormat::Png,
        _ => ImageFormat::Jpeg,
    });
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_image_width = Some(limits.max_side);
    decoder_limits.max_image_height = Some(limits.max_side);
    decoder_limits.max_alloc = Some(limits.max_alloc);
    reader.limits(decoder_limits);
    let image = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => Problem::new(
            "image_too_large",
            format!(
                "Изображение слишком большое: не более {} точек по каждой стороне",
                limits.max_side
            ),
        ),
        other => Problem::new(
            "corrupt_image",
            format!("Изображение повреждено или обрезано: {other}"),
        ),
    })?;
    let (w, h) = (image.width(), image.height());
    let dpi = match format {
        Format::Png => png_dpi(bytes),
        _ => jpeg_dpi(bytes),
    }
    .unwrap_or_else(|| dpi_at_a4(w, h));
    let mut problems = Vec::new();
    if dpi < limits.min_dpi {
        problems.push(low_dpi(dpi, limits.min_dpi));
    }
    Ok(Report {
        format,
        pages: 1,
        width_px: Some(w),
        height_px: Some(h),
        dpi: Some(dpi),
        has_text: false,
        problems,
    })
}

/// Pixels per inch from a PNG `pHYs` chunk given in metres.
fn png_dpi(bytes: &[u8]) -> Option<u32> {
    let mut at = 8;
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().ok()?) as usize;
        let kind = &bytes[at + 4..at + 8];
        let data = bytes.get(at + 8..at + 8 + len)?;
        if kind == b"pHYs" && len == 9 && data[8] == 1 {
            let x = u32::from_be_bytes(data[0..4].try_into().ok()?);
            let y = u32::from_be_bytes(data[4..8].try_into().ok()?);
            return Some((f64::from(x.min(y)) * 0.0254).round() as u32);
        }
        if kind == b"IDAT" || kind == b"IEND" {
            return None;
        }
        at += 12 + len;
    }
    None
}

/// Dots per inch from a JPEG JFIF `APP0` segment (units 1: inch, 2: cm).
fn jpeg_dpi(bytes: &[u8]) -> Option<u32> {
    let app0 = bytes.get(2..20)?;
    if app0[0] != 0xFF || app0[1] != 0xE0 || &app0[4..9] != b"JFIF\0" {
        return None;
    }
    let units = app0[11];
    let x = u16::from_be_bytes([app0[12], app0[13]]);
    let y = u16::from_be_bytes([app0[14], app0[15]]);
    let d = u32::from(x.min(y));
    match units {
        1 if d > 1 => Some(d),
        2 if d > 1 => Some((f64::from(d) * 2.54).round() as u32),
        _ => None,
    }
}

fn inspect_pdf(bytes: &[u8], limits: Limits) -> Result<Report, Problem> {
    use pdf_extract::Document;
    let doc = Document::load_mem(bytes).map_err(|e| {
        Problem::new(
            "corrupt_pdf",
            format!("PDF повреждён или обрезан, откройте и сохраните его заново: {e}"),
        )
    })?;
    if doc.is_encrypted() || doc.was_encrypted() {
        return Err(Problem::new(
            "encrypted_pdf",
            "PDF защищён паролем или зашифрован: загрузите документ без защиты",
        ));
    }
    let pages = doc.get_pages();
    if pages.is_empty() {
        return Err(Problem::new("empty_pdf", "В PDF нет ни одной страницы"));
    }
    // A page's /Parent chain must end: a cycle (found by the fuzz target) sends pdf-extract's
    // lookup of inherited attributes round it forever.
    for page_id in pages.values() {
        let mut seen = std::collections::HashSet::new();
        let mut current = Some(*page_id);
        while let Some(id) = current {
            if !seen.insert(id) || seen.len() > 64 {
                return Err(Problem::new(
                    "corrupt_pdf",
                    "PDF повреждён: дерево страниц замкнуто само на себя. Откройте и сохраните \
                     его заново (например, «Печать в PDF»)",
                ));
            }
            current = doc
                .get_dictionary(id)
                .ok()
                .and_then(|d| d.get(b"Parent").ok())
                .and_then(|p| p.as_reference().ok());
        }
    }
    // Text, page by page on the document already parsed, until a page has some: a text PDF
    // is known from its first page, a scan is read through.
    let mut has_text = false;
    for page_num in pages.keys() {
        let mut text = String::new();
        pdf_extract::output_doc_page(
            &doc,
            &mut pdf_extract::PlainTextOutput::new(&mut text),
            *page_num,
        )
        .map_err(|e| {
            Problem::new(
                "corrupt_pdf",
                format!("Не удалось прочитать содержимое PDF: {e}"),
            )
        })?;
        if text.chars().any(char::is_alphanumeric) {
            has_text = true;
            break;
        }
    }
    // Scans: the lowest resolution of any page's image against that page's width.
    let mut lowest: Option<(u32, u32, u32)> = None;
    for page_id in pages.values() {
        let width_pt = doc
            .get_dictionary(*page_id)
            .ok()
            .and_then(|p| p.get(b"MediaBox").ok())
            .and_then(|m| m.as_array().ok())
            .and_then(|a| Some((a.get(2)?.as_float().ok()? - a.first()?.as_float().ok()?).abs()))
            .map_or(595.0, f64::from);
        let images = doc.get_page_images(*page_id).unwrap_or_default();
        for img in images {
            let (w, h) = (img.width.max(0) as u32, img.height.max(0) as u32);
            let dpi = (f64::from(w.min(h)) / (width_pt.min(842.0) / 72.0)).floor() as u32;
            if lowest.is_none_or(|(d, _, _)| dpi < d) {
                lowest = Some((dpi, w, h));
            }
        }
    }
    let mut problems = Vec::new();
    match (has_text, lowest) {
        (true, _) => {}
        (false, Some((dpi, _, _))) if dpi < limits.min_dpi => {
            problems.push(low_dpi(dpi, limits.min_dpi));
        }
        (false, Some(_)) => {}
        (false, None) => problems.push(Problem::new(
            "empty_pdf",
            "В PDF нет ни текста, ни отсканированных страниц",
        )),
    }
    Ok(Report {
        format: Format::Pdf,
        pages: u32::try_from(pages.len()).unwrap_or(u32::MAX),
        width_px: lowest.map(|l| l.1),
        height_px: lowest.map(|l| l.2),
        dpi: lowest.map(|l| l.0),
        has_text,
        problems,
    })
}
