//! The receipt as XML, valid against `schemas/receipt.xsd` (namespace
//! `urn:accredo:receipt:1`), written with quick-xml (text and attributes escaped by it).

use super::{Receipt, moscow_iso};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesText, Event};

/// The XML namespace of receipts.
pub const NAMESPACE: &str = "urn:accredo:receipt:1";

/// The receipt as XML (UTF-8).
pub fn render(r: &Receipt) -> std::io::Result<Vec<u8>> {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let text = |w: &mut Writer<Vec<u8>>, name: &str, value: &str| -> std::io::Result<()> {
        w.create_element(name)
            .write_text_content(BytesText::new(value))
            .map(drop)
    };
    w.create_element("receipt")
        .with_attribute(("xmlns", NAMESPACE))
        .with_attribute(("number", r.number.as_str()))
        .write_inner_content(|w| {
            text(w, "caseId", &r.case_id)?;
            w.create_element("applicant").write_inner_content(|w| {
                text(w, "fullName", &r.applicant)?;
                text(w, "snils", &r.snils)
            })?;
            w.create_element("workflow")
                .with_attribute(("id", r.workflow_id.as_str()))
                .with_attribute(("version", r.workflow_version.to_string().as_str()))
                .write_text_content(BytesText::new(&r.workflow_label))?;
            w.create_element("action")
                .with_attribute(("code", r.transition.as_str()))
                .write_text_content(BytesText::new(&r.transition_label))?;
            text(w, "receivedAt", &moscow_iso(r.received_at))?;
            text(w, "registeredAt", &moscow_iso(r.registered_at))?;
            w.create_element("documents").write_inner_content(|w| {
                for d in &r.documents {
                    w.create_element("document")
                        .with_attribute(("type", d.doc_type.as_str()))
                        .with_attribute(("size", d.size.to_string().as_str()))
                        .with_attribute(("sha256", d.sha256.as_str()))
                        .write_inner_content(|w| {
                            text(w, "label", &d.label)?;
                            text(w, "fileName", &d.file_name)
                        })?;
                }
                Ok(())
            })?;
            let s = &r.signature;
            w.create_element("signature").write_inner_content(|w| {
                text(w, "subject", &s.subject)?;
                text(w, "issuer", &s.issuer)?;
                text(w, "serial", &s.serial)?;
                text(w, "algorithm", &s.algorithm)?;
                text(w, "signingTime", &moscow_iso(s.signing_time))?;
                text(w, "certificateSha256", &s.certificate_sha256)?;
                text(w, "payloadSha256", &s.payload_sha256)
            })?;
            Ok(())
        })?;
    let mut out = w.into_inner();
    out.push(b'\n');
    Ok(out)
}
