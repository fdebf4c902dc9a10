//! Synthetic register records for benchmarks and trials: deterministic, valid (SNILS and INN
//! with their control digits), and about the size of real ones (a job, a diploma, an
//! accreditation). `accredo registry generate` writes them.

use super::record::{CSV_HEADER, Document, Employment, RegisterPerson, list_json};
use crate::domain::{inn::Inn, snils::Snils};
use chrono::{Days, NaiveDate};
use std::io::{self, Write};

const LAST: [&str; 8] = [
    "Иванова",
    "Петров",
    "Смирнова",
    "Кузнецов",
    "Соколова",
    "Попов",
    "Лебедева",
    "Новиков",
];
const FIRST: [&str; 6] = ["Мария", "Анна", "Ольга", "Иван", "Сергей", "Алексей"];
const MIDDLE: [&str; 4] = ["Петровна", "Ивановна", "Сергеевич", "Андреевич"];
const POSITIONS: [(&str, &str); 4] = [
    ("Врач-терапевт", "31.08.49"),
    ("Врач-хирург", "31.08.67"),
    ("Медицинская сестра", "34.02.01"),
    ("Врач-педиатр", "31.08.19"),
];
/// Organizations with valid OGRN and INN.
const ORGS: [(&str, &str); 2] = [
    ("1027700132195", "7707083893"),
    ("1027700229193", "7736207543"),
];

/// Person number `i` (0-based). `version` > 0 gives the same person with a changed record
/// (a later accreditation), as the register would export after an update.
pub fn person(i: u64, version: u32) -> RegisterPerson {
    let pick = |n: usize| usize::try_from(i % n as u64).unwrap_or(0);
    let epoch = NaiveDate::from_ymd_opt(1960, 1, 1).unwrap_or_default();
    let birth_date = epoch + Days::new(i % 14_000);
    let (position, specialty) = POSITIONS[pick(POSITIONS.len())];
    let (ogrn, org_inn) = ORGS[pick(ORGS.len())];
    let start = birth_date + Days::new(9_000);
    let accredited = start + Days::new(365 * u64::from(1 + version));
    RegisterPerson {
        register_id: format!("frmr-{i:09}"),
        // Above 001-001-998, so every number carries a control number.
        snils: Snils::from_number(2_000_000 + i).digits().to_owned(),
        last_name: LAST[pick(LAST.len())].to_owned(),
        first_name: FIRST[usize::try_from(i / 8 % 6).unwrap_or(0)].to_owned(),
        middle_name: Some(MIDDLE[usize::try_from(i / 48 % 4).unwrap_or(0)].to_owned()),
        birth_date,
        inn: Some(
            Inn::individual_from_number(7_700_000_000 + i)
                .as_str()
                .to_owned(),
        ),
        gender: Some(
            if i.is_multiple_of(2) {
                "female"
            } else {
                "male"
            }
            .to_owned(),
        ),
        updated_at: None,
        employments: vec![Employment {
            organization_id: format!("org-{}", i % 5_000),
            ogrn: Some(ogrn.to_owned()),
            inn: Some(org_inn.to_owned()),
            position: position.to_owned(),
            specialty_code: Some(specialty.to_owned()),
            start: Some(start),
            end: None,
        }],
        educations: vec![Document {
            kind: "diploma".to_owned(),
            specialty: Some(specialty.to_owned()),
            issued: Some(start - Days::new(60)),
            valid_until: None,
        }],
        accreditations: vec![Document {
            kind: "periodic_accreditation".to_owned(),
            specialty: Some(specialty.to_owned()),
            issued: Some(accredited),
            valid_until: Some(accredited + Days::new(365 * 5)),
        }],
    }
}

/// Whether person `i` is changed when every `changed_every`-th one is (0: none).
pub fn is_changed(i: u64, changed_every: u64) -> bool {
    changed_every > 0 && i % changed_every == changed_every - 1
}

/// Writes persons `0..count` as JSON Lines, every `changed_every`-th one changed (0: none).
pub fn write_json_lines(out: &mut impl Write, count: u64, changed_every: u64) -> io::Result<()> {
    for i in 0..count {
        let p = person(i, u32::from(is_changed(i, changed_every)));
        serde_json::to_writer(&mut *out, &p)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Writes the same persons as CSV with the documented header.
pub fn write_csv(out: &mut impl Write, count: u64, changed_every: u64) -> io::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(CSV_HEADER)?;
    for i in 0..count {
        let p = person(i, u32::from(is_changed(i, changed_every)));
        w.write_record([
            p.register_id.as_str(),
            p.snils.as_str(),
            p.last_name.as_str(),
            p.first_name.as_str(),
            p.middle_name.as_deref().unwrap_or(""),
            &p.birth_date.to_string(),
            p.inn.as_deref().unwrap_or(""),
            p.gender.as_deref().unwrap_or(""),
            &p.updated_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            &list_json(&p.employments),
            &list_json(&p.educations),
            &list_json(&p.accreditations),
        ])?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::record::RegisterPerson;

    #[test]
    fn generated_records_pass_the_import_checks() {
        let mut out = Vec::new();
        write_json_lines(&mut out, 300, 100).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        for (i, line) in text.lines().enumerate() {
            let p = RegisterPerson::parse_line(i as u64 + 1, line).expect(line);
            assert_eq!(p, person(i as u64, u32::from(is_changed(i as u64, 100))));
        }
        assert_ne!(
            person(99, 1).content_hash(),
            person(99, 0).content_hash(),
            "a changed record hashes differently"
        );
    }
}
