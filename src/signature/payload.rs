//! What the applicant signs: canonical JSON of the form data, the SHA-256 of every attached
//! document, the workflow's id, version and definition hash, and the case's id and version.
//! Any change to the form or the documents moves the case's version, so a signature made
//! before it no longer matches.

use crate::audit::chain::canonical;
use crate::engine::definition::Definition;
use crate::store::cases::Case;
use crate::store::documents::DocumentRow;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The bytes to sign and their hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// Canonical JSON (keys sorted, no insignificant whitespace, UTF-8).
    pub bytes: Vec<u8>,
    /// SHA-256 of `bytes` (hex).
    pub sha256: String,
}

/// The signing payload of `case` (with its live documents `docs`) under `definition`.
pub fn build(case: &Case, definition: &Definition, docs: &[DocumentRow]) -> Payload {
    let form: Value = serde_json::from_str(&case.form_data).unwrap_or(Value::Null);
    let mut documents: Vec<&DocumentRow> = docs.iter().filter(|d| d.deleted_at.is_none()).collect();
    documents.sort_by(|a, b| a.id.cmp(&b.id));
    let value = json!({
        "purpose": "accredo.application-signature.v1",
        "case": { "id": case.id, "version": case.version },
        "workflow": {
            "id": case.workflow_id,
            "version": definition.version,
            "definition_hash": case.definition_hash,
        },
        "form": form,
        "documents": documents
            .iter()
            .map(|d| json!({
                "id": d.id,
                "type": d.doc_type,
                "sha256": d.sha256,
                "size": d.size_bytes,
            }))
            .collect::<Vec<_>>(),
    });
    let bytes = serde_json::to_vec(&canonical(&value)).unwrap_or_default();
    let sha256 = hex::encode(Sha256::digest(&bytes));
    Payload { bytes, sha256 }
}
