//! Signed submission: the payload a case's applicant signs, the verification of the
//! signature sent with `submit`/`resubmit`, and what a verified submission records in its
//! own transaction — the signature, the case's number and the receipt (PDF and XML).

use super::ServiceError;
use super::access::{Visible, load_visible};
use crate::engine::Actor;
use crate::engine::catalog::{Catalog, Workflow};
use crate::signature::cms::Verified;
use crate::signature::payload::{self, Payload};
use crate::signature::{SignatureError, Signing};
use crate::store::cases::Case;
use crate::store::documents::{self as doc_rows, DocumentRow};
use crate::store::signatures::{self as rows, ReceiptRow};
use crate::store::{DbConnection, StoreError, profiles};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

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
