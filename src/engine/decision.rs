//! What a commission member says with a decision: reasons from the catalogue (a rejection),
//! recommendations, and the fixes a revision asks for (form fields by JSON pointer, document
//! types), each with a comment. Checked by the `reasons_given` and `fixes_named` guards.

use serde::{Deserialize, Serialize};

/// A form field to fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldFix {
    /// JSON pointer into the form, e.g. `/employment/position`.
    pub pointer: String,
    /// What is wrong with it (Russian).
    pub comment: String,
}

/// A document type to supply again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentFix {
    /// Document type code of the workflow.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// What is wrong with it (Russian).
    pub comment: String,
}

/// What a revision asks to fix.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Fixes {
    /// Form fields.
    #[serde(default)]
    pub fields: Vec<FieldFix>,
    /// Document types.
    #[serde(default)]
    pub documents: Vec<DocumentFix>,
}

impl Fixes {
    /// Nothing is asked.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.documents.is_empty()
    }

    /// Whether a change at `pointer` is one of the fields asked for (the field or inside it).
    pub fn covers_field(&self, pointer: &str) -> bool {
        self.fields.iter().any(|f| {
            pointer == f.pointer
                || pointer
                    .strip_prefix(f.pointer.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
        })
    }

    /// Whether documents of `doc_type` are asked for.
    pub fn covers_document(&self, doc_type: &str) -> bool {
        self.documents.iter().any(|d| d.doc_type == doc_type)
    }
}

/// The decision input of a transition request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decision {
    /// Codes from the reasons catalogue.
    pub reasons: Vec<String>,
    /// Free-text recommendations to the applicant.
    pub recommendations: Option<String>,
    /// What to fix (a revision).
    pub fixes: Fixes,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_field_covers_itself_and_what_is_inside_it_only() {
        let fixes = Fixes {
            fields: vec![FieldFix {
                pointer: "/employment".into(),
                comment: "x".into(),
            }],
            documents: vec![DocumentFix {
                doc_type: "diploma".into(),
                comment: "y".into(),
            }],
        };
        assert!(fixes.covers_field("/employment"));
        assert!(fixes.covers_field("/employment/position"));
        assert!(!fixes.covers_field("/employment_history"));
        assert!(!fixes.covers_field("/applicant/phone"));
        assert!(fixes.covers_document("diploma"));
        assert!(!fixes.covers_document("identity_document"));
    }
}
