//! The record as PDF: its lines, set by the shared writer in `crate::pdf_text`.

use super::Record;
use crate::pdf_text::{LEFT, Lines, PdfError};
use chrono::NaiveDate;

/// `02.12.2026`.
fn ru_date(d: NaiveDate) -> String {
    d.format("%d.%m.%Y").to_string()
}

fn lines_of(r: &Record) -> Lines {
    let mut lines = Lines::new();
    lines.push(
        LEFT,
        16.0,
        "Выписка о прохождении аккредитации специалиста",
        24.0,
    );
    lines.push(LEFT, 13.0, &format!("№ {}", r.number), 22.0);
    lines.push(LEFT, 13.0, "Аккредитовано", 22.0);
    lines.push(LEFT, 10.0, &format!("Специалист: {}", r.holder_name), 20.0);
    lines.push(LEFT, 10.0, &format!("СНИЛС: {}", r.snils), 14.0);
    lines.push(
        LEFT,
        10.0,
        &format!("Вид аккредитации: {}", r.kind.label()),
        14.0,
    );
    lines.push(
        LEFT,
        10.0,
        &format!("Специальность: {} {}", r.specialty_code, r.specialty_name),
        14.0,
    );
    lines.push(
        LEFT,
        10.0,
        &format!("Дата решения: {}", ru_date(r.decision_date)),
        14.0,
    );
    lines.push(
        LEFT,
        10.0,
        &format!("Действует по {} включительно", ru_date(r.valid_until)),
        14.0,
    );
    lines.push(
        LEFT,
        10.0,
        &format!("Решение приняла: {}", r.commission),
        14.0,
    );
    lines.push(
        LEFT,
        10.0,
        &format!("Заявление № {}", r.application_number),
        14.0,
    );
    lines.push(LEFT, 10.0, &format!("Номер дела: {}", r.case_id), 14.0);
    lines.push(
        LEFT,
        9.0,
        "Сведения об аккредитации передаются в Федеральный регистр медицинских работников.",
        24.0,
    );
    lines
}

/// The record as a PDF.
pub(super) fn render(r: &Record) -> Result<Vec<u8>, PdfError> {
    crate::pdf_text::render(&lines_of(r))
}

#[cfg(test)]
mod tests {
    use super::super::tests::record;

    #[test]
    fn the_pdf_says_who_is_accredited_under_which_number() {
        let pdf = super::super::pdf(&record()).unwrap();
        assert!(pdf.starts_with(b"%PDF-1.7"));
        let text = pdf_extract::extract_text_from_mem(&pdf).unwrap();
        for expected in [
            "A-2026-77-000001",
            "Аккредитовано",
            "Иванова Мария Петровна",
            "112-233-445 95",
            "периодическая аккредитация",
            "31.08.49 Терапия",
            "02.12.2026",
            "01.12.2031",
            "2026-77-000123",
            "«Терапия»",
        ] {
            assert!(text.contains(expected), "{expected:?} not in {text}");
        }
    }

    #[test]
    fn the_same_record_gives_the_same_bytes() {
        let r = record();
        assert_eq!(
            super::super::pdf(&r).unwrap(),
            super::super::pdf(&r.clone()).unwrap()
        );
        let mut other = record();
        other.holder_name = "Петров Пётр Петрович".into();
        assert_ne!(
            super::super::pdf(&r).unwrap(),
            super::super::pdf(&other).unwrap()
        );
    }
}
