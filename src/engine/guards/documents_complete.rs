//! `documents_complete`: every required document type of the workflow has a valid document on
//! the case (the readiness report's document rows).

use super::{Facts, Guard, GuardFailure, Need};
use crate::engine::form::FieldError;

/// The guard.
#[derive(Debug)]
pub struct DocumentsComplete;

impl Guard for DocumentsComplete {
    fn name(&self) -> &'static str {
        "documents_complete"
    }

    fn needs(&self) -> &'static [Need] {
        &[Need::Documents]
    }

    fn check(&self, facts: &Facts<'_>) -> Result<(), GuardFailure> {
        let Some(required) = &facts.documents else {
            // Not gathered: refuse rather than pass.
            return Err(GuardFailure {
                guard: "documents_complete",
                code: "documents_incomplete",
                message: "Не удалось проверить документы заявления".into(),
                details: Vec::new(),
            });
        };
        let problems: Vec<FieldError> = required
            .iter()
            .filter(|d| !d.ready)
            .map(|d| FieldError {
                field: format!("/documents/{}", d.doc_type),
                code: d.code.clone(),
                message: d.message.clone(),
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(GuardFailure {
                guard: "documents_complete",
                code: "documents_incomplete",
                message: "Приложены не все обязательные документы или некоторые из них не прошли \
                          проверку: смотрите список"
                    .into(),
                details: problems,
            })
        }
    }
}
