//! Documents of a case: the checks before a file is read, recording an inspected upload
//! (with its audit event in the case's chain), listing, and finding one to download.

use super::access::{Visible, load_visible};
use super::{Change, ServiceError, apply_staged, stage_change};
use crate::documents::inspect::{Problem, Report};
use crate::engine::Actor;
use crate::engine::catalog::Catalog;
use crate::engine::definition::DocumentType;
use crate::store::documents::{self as rows, DocumentRow};
use crate::store::{DbConnection, StoreError, write_tx};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::json;

/// How long after its first upload a document may be replaced.
pub const REPLACE_WINDOW: chrono::Duration = chrono::Duration::hours(48);

/// A document as the cabinet shows it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct DocumentDto {
    /// Document id.
    pub id: String,
    /// Type code.
    pub doc_type: String,
    /// Russian label of the type.
    pub doc_type_label: String,
    /// The user's file name (metadata only).
    pub file_name: String,
    /// The true content type.
    pub content_type: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// SHA-256 of the content.
    pub sha256: String,
    /// `valid`, or `invalid` with the problems.
    pub status: String,
    /// What is wrong with the file, if anything.
    pub problems: Vec<Problem>,
    /// When it was uploaded.
    pub uploaded_at: DateTime<Utc>,
}

fn to_dto(row: DocumentRow, types: &[DocumentType]) -> DocumentDto {
    let problems = serde_json::from_str::<Report>(&row.inspection)
        .map(|r| r.problems)
        .unwrap_or_default();
    DocumentDto {
        doc_type_label: types
            .iter()
            .find(|t| t.code == row.doc_type)
            .map_or_else(|| row.doc_type.clone(), |t| t.label.clone()),
        id: row.id,
        doc_type: row.doc_type,
        file_name: row.file_name,
        content_type: row.content_type,
        size_bytes: row.size_bytes,
        sha256: row.sha256,
        status: row.status,
        problems,
        uploaded_at: row.uploaded_at.and_utc(),
    }
}

/// The caller's own case, in a state where its applicant may change it.
fn own_editable_case(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    case_id: &str,
) -> Result<Visible, ServiceError> {
    let visible = load_visible(conn, catalog, actor, case_id)?;
    visible.require_owner(actor)?;
    visible.require_editable()?;
    Ok(visible)
}

/// Everything that can be refused before the file is read: the case is the caller's and
/// editable, the type exists and has room, the caller is under their quota. Returns the type
/// (with its size limit).
pub fn check_upload(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    case_id: &str,
    doc_type: &str,
    quota_bytes: i64,
    incoming: i64,
) -> Result<DocumentType, ServiceError> {
    let visible = own_editable_case(conn, catalog, actor, case_id)?;
    upload_checks(conn, actor, &visible, doc_type, quota_bytes, incoming)
}

/// The type of a document being uploaded again under an `Idempotency-Key` that already has
/// a result: the case is visible to the caller and the type its workflow's; the counts and
/// the state are not checked again, since the retry keeps nothing (it gets the first result).
pub fn type_for_retry(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    case_id: &str,
    doc_type: &str,
    key: &str,
) -> Result<Option<DocumentType>, ServiceError> {
    if crate::store::idempotency::find(conn, actor.user.as_str(), key)
        .map_err(StoreError::from)?
        .is_none()
    {
        return Ok(None);
    }
    let visible = load_visible(conn, catalog, actor, case_id)?;
    visible
        .workflow
        .definition
        .document_types
        .iter()
        .find(|t| t.code == doc_type)
        .cloned()
        .map(Some)
        .ok_or_else(|| ServiceError::UnknownDocumentType(doc_type.to_owned()))
}

/// [`check_upload`] on a case already loaded.
fn upload_checks(
    conn: &mut DbConnection,
    actor: &Actor,
    visible: &Visible,
    doc_type: &str,
    quota_bytes: i64,
    incoming: i64,
) -> Result<DocumentType, ServiceError> {
    let case_id = visible.case.id.as_str();
    let def = &visible.workflow.definition;
    let ty = def
        .document_types
        .iter()
        .find(|t| t.code == doc_type)
        .cloned()
        .ok_or_else(|| ServiceError::UnknownDocumentType(doc_type.to_owned()))?;
    if let Some(round) = super::revision::open_round(conn, visible)? {
        super::revision::check_document(&round, doc_type)?;
    }
    let present = rows::of_case(conn, case_id)
        .map_err(StoreError::from)?
        .iter()
        .filter(|d| d.doc_type == doc_type)
        .count();
    if present >= ty.max_count as usize {
        return Err(ServiceError::TooManyFiles {
            label: ty.label.clone(),
            max: ty.max_count,
        });
    }
    let used = rows::bytes_of_user(conn, actor.user.as_str()).map_err(StoreError::from)?;
    if used + incoming > quota_bytes {
        return Err(ServiceError::QuotaExceeded {
            quota_mb: quota_bytes >> 20,
        });
    }
    Ok(ty)
}

/// An inspected file to record.
#[derive(Debug, Clone)]
pub struct NewDocument {
    /// Type code.
    pub doc_type: String,
    /// The user's file name.
    pub file_name: String,
    /// SHA-256 of the content (the blob is already stored under it).
    pub sha256: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// The worker's report.
    pub report: Report,
}

impl NewDocument {
    /// `valid` when the inspection found nothing wrong, else `invalid`.
    fn status(&self) -> &'static str {
        if self.report.problems.is_empty() {
            "valid"
        } else {
            "invalid"
        }
    }

    /// `base` with this file as its content (hash, size, type, name, status, inspection).
    fn onto(&self, base: DocumentRow) -> Result<DocumentRow, StoreError> {
        Ok(DocumentRow {
            sha256: self.sha256.clone(),
            size_bytes: self.size_bytes,
            content_type: self.report.format.content_type().to_owned(),
            file_name: self.file_name.clone(),
            status: self.status().to_owned(),
            inspection: serde_json::to_string(&self.report)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            ..base
        })
    }
}

/// Records an uploaded, inspected and stored file: the checks again (the case may have moved
/// on while the file was inspected), the row, and a `document.uploaded` event in the case's
/// chain (which also moves the case's version: its documents are part of what is signed).
pub fn record_upload(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    case_id: &str,
    new: NewDocument,
    quota_bytes: i64,
    now: DateTime<Utc>,
) -> Result<DocumentDto, ServiceError> {
    let at: NaiveDateTime = now.naive_utc();
    write_tx(conn, |conn| {
        let visible = own_editable_case(conn, catalog, actor, case_id)?;
        upload_checks(
            conn,
            actor,
            &visible,
            &new.doc_type,
            quota_bytes,
            new.size_bytes,
        )?;
        let Visible { case, workflow, .. } = visible;
        let status = new.status();
        let row = new.onto(DocumentRow {
            id: crate::domain::ids::uuid_v7(now).to_string(),
            case_id: case_id.to_owned(),
            doc_type: new.doc_type.clone(),
            uploaded_by: actor.user.to_string(),
            uploaded_at: at,
            replaced_at: None,
            deleted_at: None,
            ..DocumentRow::default()
        })?;
        rows::insert(conn, &row).map_err(StoreError::from)?;
        let codes: Vec<&str> = new
            .report
            .problems
            .iter()
            .map(|p| p.code.as_str())
            .collect();
        let change = Change {
            submitted: false,
            state: None,
            form_data: None,
            kind: "document.uploaded",
            step: None,
            payload: json!({
                "document_id": row.id,
                "type": row.doc_type,
                "sha256": row.sha256,
                "size": row.size_bytes,
                "status": status,
                "problems": codes,
            }),
        };
        apply_staged(
            conn,
            stage_change(&case, case.version, change, Some(actor), at),
            &super::Extras::default(),
        )?;
        Ok(to_dto(row, &workflow.definition.document_types))
    })
}

/// The case's documents (anyone who may see the case).
pub fn list(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    case_id: &str,
) -> Result<Vec<DocumentDto>, ServiceError> {
    let Visible { workflow, .. } = load_visible(conn, catalog, actor, case_id)?;
    let types = &workflow.definition.document_types;
    Ok(rows::of_case(conn, case_id)
        .map_err(StoreError::from)?
        .into_iter()
        .map(|r| to_dto(r, types))
        .collect())
}

/// One document to download (anyone who may see the case: its owner and the commission).
pub fn find(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    case_id: &str,
    document_id: &str,
) -> Result<DocumentRow, ServiceError> {
    load_visible(conn, catalog, actor, case_id)?;
    rows::find(conn, case_id, document_id)
        .map_err(StoreError::from)?
        .ok_or(ServiceError::DocumentNotFound)
}

/// Deletes a document from a case that is still a draft (the workflow's initial state); the
/// row is kept with its deletion time and the case's chain gets a `document.deleted` event.
pub fn delete(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    case_id: &str,
    document_id: &str,
    now: DateTime<Utc>,
) -> Result<(), ServiceError> {
    let at = now.naive_utc();
    write_tx(conn, |conn| {
        let visible = load_visible(conn, catalog, actor, case_id)?;
        visible.require_owner(actor)?;
        // A draft's documents, or in a revision round those of the types named.
        let round = super::revision::open_round(conn, &visible)?;
        let Visible { case, workflow, .. } = visible;
        let def = &workflow.definition;
        if case.state != def.initial && round.is_none() {
            return Err(ServiceError::NotEditable {
                state_label: def.label_of(&case.state).to_owned(),
            });
        }
        let row = rows::find(conn, case_id, document_id)
            .map_err(StoreError::from)?
            .ok_or(ServiceError::DocumentNotFound)?;
        if let Some(round) = &round {
            super::revision::check_document(round, &row.doc_type)?;
        }
        rows::mark_deleted(conn, &row.id, at).map_err(StoreError::from)?;
        let change = Change {
            submitted: false,
            state: None,
            form_data: None,
            kind: "document.deleted",
            step: None,
            payload: json!({"document_id": row.id, "type": row.doc_type, "sha256": row.sha256}),
        };
        apply_staged(
            conn,
            stage_change(&case, case.version, change, Some(actor), at),
            &super::Extras::default(),
        )?;
        Ok(())
    })
}

/// Everything that can refuse a replacement before the new file is read: the case is the
/// caller's and editable, the document exists and its first upload was at most 48 hours ago.
/// Returns the document's type (with its limits) and its current row.
pub fn check_replace(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    case_id: &str,
    document_id: &str,
    now: DateTime<Utc>,
) -> Result<(DocumentType, DocumentRow), ServiceError> {
    let visible = own_editable_case(conn, catalog, actor, case_id)?;
    replace_checks(conn, &visible, document_id, now)
}

/// [`check_replace`] on a case already loaded.
fn replace_checks(
    conn: &mut DbConnection,
    visible: &Visible,
    document_id: &str,
    now: DateTime<Utc>,
) -> Result<(DocumentType, DocumentRow), ServiceError> {
    let case_id = visible.case.id.as_str();
    let def = &visible.workflow.definition;
    let row = rows::find(conn, case_id, document_id)
        .map_err(StoreError::from)?
        .ok_or(ServiceError::DocumentNotFound)?;
    // In a revision round a named type is replaced whatever the window; others not at all.
    match super::revision::open_round(conn, visible)? {
        Some(round) => super::revision::check_document(&round, &row.doc_type)?,
        None if now.naive_utc() - row.uploaded_at > REPLACE_WINDOW => {
            return Err(ServiceError::ReplaceWindowClosed);
        }
        None => {}
    }
    let ty = def
        .document_types
        .iter()
        .find(|t| t.code == row.doc_type)
        .cloned()
        .ok_or_else(|| ServiceError::UnknownDocumentType(row.doc_type.clone()))?;
    Ok((ty, row))
}

/// Puts an inspected, stored file in place of a document: the checks again, the row, and a
/// `document.replaced` event in the case's chain (old and new hash).
pub fn record_replace(
    conn: &mut DbConnection,
    catalog: &Catalog,
    actor: &Actor,
    case_id: &str,
    document_id: &str,
    new: NewDocument,
    now: DateTime<Utc>,
) -> Result<DocumentDto, ServiceError> {
    let at = now.naive_utc();
    write_tx(conn, |conn| {
        let visible = own_editable_case(conn, catalog, actor, case_id)?;
        let (_, old) = replace_checks(conn, &visible, document_id, now)?;
        let Visible { case, workflow, .. } = visible;
        let status = new.status();
        let row = new.onto(DocumentRow {
            replaced_at: Some(at),
            ..old.clone()
        })?;
        rows::replace_content(conn, &row).map_err(StoreError::from)?;
        let change = Change {
            submitted: false,
            state: None,
            form_data: None,
            kind: "document.replaced",
            step: None,
            payload: json!({
                "document_id": row.id,
                "type": row.doc_type,
                "old_sha256": old.sha256,
                "sha256": row.sha256,
                "size": row.size_bytes,
                "status": status,
            }),
        };
        apply_staged(
            conn,
            stage_change(&case, case.version, change, Some(actor), at),
            &super::Extras::default(),
        )?;
        Ok(to_dto(row, &workflow.definition.document_types))
    })
}

pub use super::readiness::{Readiness, ReadinessRow, readiness};
