//! The receipt as PDF: its lines, set by the shared writer in `crate::pdf_text` (A4, embedded
//! DejaVu Sans subset, deterministic bytes).

use super::{Receipt, format_snils, moscow_time};
use crate::pdf_text::{LEFT, Lines};

pub use crate::pdf_text::PdfError;

fn lines_of(r: &Receipt) -> Lines {
    let mut lines = Lines::new();
    lines.push(LEFT, 16.0, "Электронный акт о подаче заявления", 24.0);
    lines.push(LEFT, 13.0, &format!("№ {}", r.number), 22.0);
    lines.push(LEFT, 10.0, &format!("Заявитель: {}", r.applicant), 16.0);
    lines.push(
        LEFT,
        10.0,
        &format!("СНИЛС: {}", format_snils(&r.snils)),
        14.0,
    );
    lines.push(
        LEFT,
        10.0,
        &format!(
            "Процедура: {} (версия {})",
            r.workflow_label, r.workflow_version
        ),
        14.0,
    );
    lines.push(
        LEFT,
        10.0,
        &format!("Действие: {}", r.transition_label),
        14.0,
    );
    lines.push(
        LEFT,
        10.0,
        &format!("Поступило: {}", moscow_time(r.received_at)),
        14.0,
    );
    lines.push(
        LEFT,
        10.0,
        &format!("Зарегистрировано: {}", moscow_time(r.registered_at)),
        14.0,
    );
    lines.push(LEFT, 10.0, &format!("Номер дела: {}", r.case_id), 14.0);
    lines.push(LEFT, 12.0, "Приложенные документы", 24.0);
    for (i, d) in r.documents.iter().enumerate() {
        lines.push(
            LEFT,
            10.0,
            &format!("{}. {} — {} ({} байт)", i + 1, d.label, d.file_name, d.size),
            16.0,
        );
        lines.push(LEFT + 14.0, 8.0, &format!("SHA-256: {}", d.sha256), 11.0);
    }
    let s = &r.signature;
    lines.push(LEFT, 12.0, "Электронная подпись", 24.0);
    lines.push(
        LEFT,
        10.0,
        &format!("Владелец сертификата: {}", s.subject),
        16.0,
    );
    lines.push(
        LEFT,
        10.0,
        &format!("Удостоверяющий центр: {}", s.issuer),
        14.0,
    );
    lines.push(
        LEFT,
        10.0,
        &format!("Серийный номер сертификата: {}", s.serial),
        14.0,
    );
    lines.push(LEFT, 10.0, &format!("Алгоритм: {}", s.algorithm), 14.0);
    lines.push(
        LEFT,
        10.0,
        &format!("Время подписания: {}", moscow_time(s.signing_time)),
        14.0,
    );
    lines.push(
        LEFT,
        8.0,
        &format!("SHA-256 сертификата: {}", s.certificate_sha256),
        13.0,
    );
    lines.push(
        LEFT,
        8.0,
        &format!("SHA-256 подписанных данных: {}", s.payload_sha256),
        11.0,
    );
    lines.push(
        LEFT,
        9.0,
        "Номер акта используется для отслеживания заявления и при обращении в поддержку.",
        24.0,
    );
    lines
}

/// The receipt as a PDF.
pub fn render(r: &Receipt) -> Result<Vec<u8>, PdfError> {
    crate::pdf_text::render(&lines_of(r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receipt::{ReceiptDocument, ReceiptSignature};
    use chrono::{TimeZone, Utc};
    use sha2::{Digest, Sha256};

    fn receipt() -> Receipt {
        let at = Utc.with_ymd_and_hms(2026, 11, 23, 9, 0, 0).unwrap();
        Receipt {
            number: "2026-77-000123".into(),
            case_id: "0190a5c8-0000-7000-8000-000000000001".into(),
            applicant: "Иванова Мария Петровна".into(),
            snils: "11223344595".into(),
            workflow_id: "periodic_accreditation".into(),
            workflow_label: "Периодическая аккредитация".into(),
            workflow_version: 1,
            transition: "submit".into(),
            transition_label: "Подать заявление".into(),
            received_at: at,
            registered_at: at,
            documents: vec![ReceiptDocument {
                doc_type: "diploma".into(),
                label: "Диплом".into(),
                file_name: "диплом.pdf".into(),
                size: 123_456,
                sha256: "ab".repeat(32),
            }],
            signature: ReceiptSignature {
                subject: "Иванова Мария Петровна".into(),
                issuer: "Тестовый УЦ".into(),
                serial: "01".into(),
                algorithm: "ECDSA P-256 / SHA-256".into(),
                signing_time: at,
                certificate_sha256: "cd".repeat(32),
                payload_sha256: "ef".repeat(32),
            },
        }
    }

    /// Receipts are stored once and served as stored, but a change of the writer must still
    /// be a decision: this pins the bytes. A dependency upgrade (lopdf, subsetter, dejavu) may
    /// change them legitimately; then check the PDF by eye and update the hash.
    #[test]
    fn a_fixed_receipt_gives_pinned_bytes() {
        let pdf = render(&receipt()).unwrap();
        assert_eq!(pdf, render(&receipt()).unwrap(), "same receipt, same bytes");
        let text = pdf_extract::extract_text_from_mem(&pdf).unwrap();
        assert!(text.contains("2026-77-000123"), "{text}");
        assert!(text.contains("Иванова Мария Петровна"), "{text}");
        assert_eq!(hex::encode(Sha256::digest(&pdf)), PINNED);
    }

    const PINNED: &str = "1741a67f9e2094d3068b2fb48ec9aecf0bb34fd0486f7710032761b53ac803e1";
}
