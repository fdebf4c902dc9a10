//! `issue_receipt`: a signed submission gets its electronic act of submission: the signature
//! is stored (CMS file, signer certificate, hashes) and a receipt with the case's number is
//! rendered as PDF and XML and stored (`seq` per case: a resubmission adds one). The receipt
//! shows when the submission arrived and when it is registered: the same moment within the
//! intake hours of a working day, else the next opening by the production calendar. Needs the
//! `signature_valid` guard and `assign_number` before it (checked at load).

use super::{Effect, EffectContext};
use crate::receipt::{self, Receipt, ReceiptDocument, ReceiptSignature};
use crate::service::ServiceError;
use crate::store::signatures::{self as rows, ReceiptRow, SignatureRow};
use crate::store::{DbConnection, StoreError};
use serde_json::json;

/// The effect.
#[derive(Debug)]
pub struct IssueReceipt;

impl Effect for IssueReceipt {
    fn name(&self) -> &'static str {
        "issue_receipt"
    }

    fn writes_rows(&self) -> bool {
        true
    }

    fn apply(
        &self,
        conn: &mut DbConnection,
        cx: &mut EffectContext<'_>,
    ) -> Result<(), ServiceError> {
        let (Some(accepted), Some(number)) = (cx.accepted, cx.patch.number.clone()) else {
            return Err(StoreError::Corrupt(
                "issue_receipt runs after signature_valid and assign_number".into(),
            )
            .into());
        };
        let (case, t, def) = (cx.case, cx.transition, &cx.workflow.definition);
        let at = cx.now.naive_utc();
        let v = &accepted.verified;
        let registered = cx.registered_at;
        let signature_id = crate::domain::ids::uuid_v7(cx.now).to_string();
        rows::insert_signature(
            conn,
            &SignatureRow {
                id: signature_id.clone(),
                case_id: case.id.clone(),
                case_version: case.version,
                transition: t.name.clone(),
                payload_sha256: accepted.payload.sha256.clone(),
                signature: accepted.cms.clone(),
                certificate: v.certificate.clone(),
                certificate_sha256: v.certificate_sha256.clone(),
                subject: v.subject.clone(),
                issuer: v.issuer.clone(),
                serial: v.serial.clone(),
                algorithm: v.algorithm.clone(),
                signing_time: v.signing_time.naive_utc(),
                verified_at: at,
            },
        )
        .map_err(StoreError::from)?;
        let r = Receipt {
            number: number.clone(),
            case_id: case.id.clone(),
            applicant: accepted.applicant.clone(),
            snils: v.snils.clone(),
            workflow_id: def.id.clone(),
            workflow_label: def.title.clone(),
            workflow_version: def.version,
            transition: t.name.clone(),
            transition_label: t.label.clone(),
            received_at: cx.now,
            registered_at: registered,
            documents: accepted
                .documents
                .iter()
                .map(|d| ReceiptDocument {
                    doc_type: d.doc_type.clone(),
                    label: def
                        .document_types
                        .iter()
                        .find(|ty| ty.code == d.doc_type)
                        .map_or_else(|| d.doc_type.clone(), |ty| ty.label.clone()),
                    file_name: d.file_name.clone(),
                    size: d.size_bytes,
                    sha256: d.sha256.clone(),
                })
                .collect(),
            signature: ReceiptSignature {
                subject: v.subject.clone(),
                issuer: v.issuer.clone(),
                serial: v.serial.clone(),
                algorithm: v.algorithm.clone(),
                signing_time: v.signing_time,
                certificate_sha256: v.certificate_sha256.clone(),
                payload_sha256: accepted.payload.sha256.clone(),
            },
        };
        let pdf = receipt::pdf::render(&r).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let xml = receipt::xml::render(&r).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let seq = rows::receipt_count(conn, &case.id).map_err(StoreError::from)? + 1;
        rows::insert_receipt(
            conn,
            &ReceiptRow {
                case_id: case.id.clone(),
                seq: i32::try_from(seq).unwrap_or(i32::MAX),
                number: number.clone(),
                signature_id: signature_id.clone(),
                pdf,
                xml,
                created_at: at,
            },
        )
        .map_err(StoreError::from)?;
        cx.payload["signature"] = json!({
            "id": signature_id,
            "payload_sha256": accepted.payload.sha256,
            "certificate_sha256": v.certificate_sha256,
            "serial": v.serial,
            "issuer": v.issuer,
            "algorithm": v.algorithm,
            "signing_time": v.signing_time,
        });
        cx.payload["receipt"] = json!({
            "number": number, "seq": seq, "received_at": cx.now, "registered_at": registered,
        });
        Ok(())
    }
}
