//! The record as XML, valid against `schemas/accreditation-record.xsd` (namespace
//! [`NAMESPACE`]). The shape is fixed, so it is one template; every value is escaped by
//! quick-xml's `escape` (all five special characters, so the same call serves attributes).

use super::Record;
use crate::domain::calendar::moscow;
use quick_xml::escape::escape;

/// The XML namespace of accreditation records.
pub const NAMESPACE: &str = "urn:accredo:accreditation-record:1";

/// The record as XML (UTF-8).
pub(super) fn render(r: &Record) -> Vec<u8> {
    let e = |s: &str| escape(s).into_owned();
    let decided_at = format!("{}+03:00", moscow(r.decided_at).format("%Y-%m-%dT%H:%M:%S"));
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<accreditationRecord xmlns="{NAMESPACE}" number="{number}">
  <status>accredited</status>
  <kind code="{kind_code}">{kind_label}</kind>
  <holder>
    <fullName>{holder}</fullName>
    <snils>{snils}</snils>
  </holder>
  <specialty code="{specialty_code}">{specialty_name}</specialty>
  <decidedAt>{decided_at}</decidedAt>
  <decisionDate>{decision_date}</decisionDate>
  <validUntil>{valid_until}</validUntil>
  <commission>{commission}</commission>
  <application number="{application}" caseId="{case_id}"/>
</accreditationRecord>
"#,
        number = e(&r.number),
        kind_code = r.kind.code(),
        kind_label = r.kind.label(),
        holder = e(&r.holder_name),
        snils = r.snils.digits(),
        specialty_code = e(&r.specialty_code),
        specialty_name = e(&r.specialty_name),
        decision_date = r.decision_date.format("%Y-%m-%d"),
        valid_until = r.valid_until.format("%Y-%m-%d"),
        commission = e(&r.commission),
        application = e(&r.application_number),
        case_id = e(&r.case_id),
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::super::tests::record;

    fn schema_text() -> String {
        std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("schemas/accreditation-record.xsd"),
        )
        .expect("xsd")
    }

    fn is_valid(xml: &str) -> bool {
        let xsd = schema_text();
        let schema = xmlschema::parse_schema(&xsd).expect("schema");
        let doc = oxml::parse(xml).expect("xml");
        xmlschema::validate(&doc, &schema).is_valid()
    }

    #[test]
    fn every_rule_of_the_schema_is_enforced() {
        let xsd = schema_text();
        let unsupported = xmlschema::support::unsupported(&oxml::parse(&xsd).expect("xsd doc"));
        assert!(unsupported.is_empty(), "{unsupported:?}");
    }

    #[test]
    fn the_xml_is_valid_against_its_schema() {
        let xml = String::from_utf8(super::super::xml(&record())).unwrap();
        let xsd = schema_text();
        let schema = xmlschema::parse_schema(&xsd).expect("schema");
        let report = xmlschema::validate(&oxml::parse(&xml).expect("xml"), &schema);
        assert!(report.is_valid(), "{report}\n{xml}");
        assert!(xml.contains(r#"number="A-2026-77-000001""#), "{xml}");
        assert!(xml.contains("<decidedAt>2026-12-02T15:30:00+03:00</decidedAt>"));
        assert!(xml.contains("<validUntil>2031-12-01</validUntil>"));
        assert!(xml.contains("<snils>11223344595</snils>"));
        // libxml2's opinion: tests/it/delivery.rs (assert_valid_xml), which CI requires.
    }

    #[test]
    fn the_schema_refuses_a_broken_record() {
        let xml = String::from_utf8(super::super::xml(&record())).unwrap();
        for (from, to) in [
            ("<snils>", "<snils>x"),
            (r#"number="A-"#, r#"number="А-"#),
            (r#"code="periodic""#, r#"code="yearly""#),
            ("<validUntil>2031-12-01", "<validUntil>01.12.2031"),
            ("<status>accredited", "<status>rejected"),
        ] {
            let broken = xml.replacen(from, to, 1);
            assert_ne!(broken, xml, "{from} is in the XML");
            assert!(!is_valid(&broken), "{to} must not validate");
        }
    }

    #[test]
    fn text_is_escaped_and_the_bytes_are_stable() {
        let mut r = record();
        r.holder_name = "O'Brien <Мария> & \"Ко\"".into();
        let xml = super::super::xml(&r);
        assert_eq!(xml, super::super::xml(&r.clone()));
        let xml = String::from_utf8(xml).unwrap();
        assert!(is_valid(&xml), "{xml}");
        let doc = oxml::parse(&xml).expect("xml");
        let text: String = doc
            .descendants()
            .filter(|&id| doc.element_name(id).is_some_and(|n| n.local == "fullName"))
            .map(|id| doc.text(id))
            .collect();
        assert_eq!(text, "O'Brien <Мария> & \"Ко\"");
    }
}
