//! Signed submission: the payload a case's applicant signs, the verification of the
//! signature sent with `submit`/`resubmit`, and what a verified submission records in its
//! own transaction — the signature, the case's number and the receipt (PDF and XML).

use super::ServiceError;
use super::access::{Visible, load_visible};
use crate::engine::Actor;
use crate::engine::catalog::{Catalog, Workflow};
use crate::engine::definition::Transition;
use crate::receipt::{self, Receipt, ReceiptDocument, ReceiptSignature};
use crate::signature::cms::Verified;
use crate::signature::payload::{self, Payload};
use crate::signature::{SignatureError, Signing};
use crate::store::cases::Case;
use crate::store::documents::{self as doc_rows, DocumentRow};
use crate::store::signatures::{self as rows, ReceiptRow, SignatureRow};
use crate::store::{DbConnection, StoreError, profiles};
use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use serde_json::{Value, json};

/// What the cabinet asks the applicant to sign.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PayloadDto {
    /// The case.
    pub case_id: String,
    /// The case version the payload describes (a change makes a signature over it stale).
    pub case_version: i64,
    /// SHA-256 of the payload bytes (hex).
    pub sha256: String,
    /// The exact bytes to sign (canonical JSON), base64.
    pub payload_base64: String,
    /// The same payload as JSON, for display.
    pub payload: Value,
}

/// The signing payload of a case as it is now.
pub fn payload_of(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    case_id: &str,
) -> Result<PayloadDto, ServiceError> {
    let Visible { case, workflow, .. } = load_visible(conn, catalog, actor, case_id)?;
    let docs = doc_rows::of_case(conn, case_id).map_err(StoreError::from)?;
    let p = payload::build(&case, &workflow.definition, &docs);
    use base64::Engine as _;
    Ok(PayloadDto {
        case_id: case.id,
        case_version: case.version,
        sha256: p.sha256,
        payload_base64: base64::engine::general_purpose::STANDARD.encode(&p.bytes),
        payload: serde_json::from_slice(&p.bytes).unwrap_or(Value::Null),
    })
}

/// A signature that passed verification, with what it was checked against.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The verification's result.
    pub verified: Verified,
    /// The payload it signs.
    pub payload: Payload,
    /// The documents the payload lists.
    pub documents: Vec<DocumentRow>,
    /// The signature file as sent (DER).
    pub cms: Vec<u8>,
    /// The applicant's name for the receipt.
    pub applicant: String,
}

/// Verifies `signature` (as sent with the transition) over the case's payload now (the case
/// with its live documents `documents`), for the applicant's SNILS as the identity provider
/// gave it.
pub fn verify(
    conn: &mut DbConnection,
    signing: &Signing,
    case: &Case,
    workflow: &Workflow,
    documents: Vec<DocumentRow>,
    signature: Option<&[u8]>,
    now: DateTime<Utc>,
) -> Result<Result<Accepted, SignatureError>, StoreError> {
    let Some(signature) = signature else {
        return Ok(Err(SignatureError::new(
            "signature_missing",
            "Заявление подаётся с электронной подписью: получите данные для подписи, подпишите \
             их откреплённой подписью и приложите файл подписи",
        )));
    };
    if signing.checker.trust.is_empty() {
        return Ok(Err(SignatureError::new(
            "signature_not_configured",
            "Проверка электронной подписи на этом сервере не настроена: обратитесь в поддержку",
        )));
    }
    let profile = profiles::find(conn, &case.owner_id)?;
    let snils = profile
        .as_ref()
        .and_then(|p| p.snils.as_deref())
        .map(|s| s.chars().filter(char::is_ascii_digit).collect::<String>())
        .unwrap_or_default();
    let applicant = match &profile {
        Some(p) => [&p.last_name, &p.first_name, &p.middle_name]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        None => String::new(),
    };
    let applicant = if applicant.trim().is_empty() {
        crate::store::users::find(
            conn,
            &crate::domain::ids::UserId::from_stored(case.owner_id.clone()),
        )?
        .map(|u| u.display_name)
        .unwrap_or_default()
    } else {
        applicant
    };
    let payload = payload::build(case, &workflow.definition, &documents);
    let cms = match crate::signature::cms::to_der(signature) {
        Ok(der) => der,
        Err(e) => return Ok(Err(e)),
    };
    Ok(signing
        .checker
        .verify_detached(&cms, &payload.bytes, &snils, now)
        .map(|verified| Accepted {
            verified,
            payload,
            documents,
            cms,
            applicant,
        }))
}

/// Records an accepted signature of transition `t` on `case`: the signature row, the case's
/// number (taken at its first signed submission) and the receipt, all in the caller's write
/// transaction. Returns what the transition's audit event says about them.
pub fn record(
    conn: &mut DbConnection,
    signing: &Signing,
    case: &Case,
    workflow: &Workflow,
    t: &Transition,
    accepted: &Accepted,
    now: DateTime<Utc>,
) -> Result<Value, ServiceError> {
    let at = now.naive_utc();
    let v = &accepted.verified;
    let signature_id = crate::domain::ids::uuid_v7(now).to_string();
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
    let number = match rows::number_of(conn, &case.id).map_err(StoreError::from)? {
        Some(n) => n,
        None => {
            let year = receipt::in_moscow(now).year();
            let seq =
                rows::next_in_sequence(conn, year, &signing.region).map_err(StoreError::from)?;
            let n = receipt::number(year, &signing.region, seq);
            rows::assign_number(conn, &case.id, &n, at).map_err(StoreError::from)?;
            n
        }
    };
    let def = &workflow.definition;
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
        registered_at: now,
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
    Ok(json!({
        "signature": {
            "id": signature_id,
            "payload_sha256": accepted.payload.sha256,
            "certificate_sha256": v.certificate_sha256,
            "serial": v.serial,
            "issuer": v.issuer,
            "algorithm": v.algorithm,
            "signing_time": v.signing_time,
        },
        "receipt": { "number": number, "seq": seq },
    }))
}

/// The latest receipt of a case (its owner and the commission).
pub fn receipt_of(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    case_id: &str,
) -> Result<ReceiptRow, ServiceError> {
    load_visible(conn, catalog, actor, case_id)?;
    rows::latest_receipt(conn, case_id)
        .map_err(StoreError::from)?
        .ok_or(ServiceError::ReceiptNotFound)
}
