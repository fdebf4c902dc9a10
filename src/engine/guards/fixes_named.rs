//! `fixes_named`: a return for revision names what to fix — form fields of the schema (by
//! JSON pointer) and document types of the workflow — each with a comment.

use super::{Facts, FieldError, Guard, GuardFailure, Need};

/// The guard.
#[derive(Debug)]
pub struct FixesNamed;

/// The longest comment on one fix.
const MAX_COMMENT: usize = 2000;

impl Guard for FixesNamed {
    fn name(&self) -> &'static str {
        "fixes_named"
    }

    fn needs(&self) -> &'static [Need] {
        &[Need::Decision]
    }

    fn check(&self, facts: &Facts<'_>) -> Result<(), GuardFailure> {
        let refuse = |code: &'static str, message: &str, details: Vec<FieldError>| {
            Err(GuardFailure {
                guard: "fixes_named",
                code,
                message: message.into(),
                details,
            })
        };
        let Some(d) = facts.decision else {
            return refuse("fixes_required", "Укажите, что нужно исправить", vec![]);
        };
        let fixes = &d.input.fixes;
        if fixes.is_empty() {
            return refuse(
                "fixes_required",
                "Укажите, что нужно исправить: поля заявления и (или) виды документов",
                vec![FieldError {
                    field: "/fixes".into(),
                    code: "required".into(),
                    message: "Обязательное поле".into(),
                }],
            );
        }
        let mut details = Vec::new();
        let comment = |details: &mut Vec<FieldError>, at: String, text: &str| {
            let len = text.trim().chars().count();
            if len == 0 || len > MAX_COMMENT {
                details.push(FieldError {
                    field: at,
                    code: "comment_required".into(),
                    message: format!("Поясните замечание (от 1 до {MAX_COMMENT} символов)"),
                });
            }
        };
        for (i, f) in fixes.fields.iter().enumerate() {
            if !facts.schema.has_field(&f.pointer) {
                details.push(FieldError {
                    field: format!("/fixes/fields/{i}/pointer"),
                    code: "unknown_field".into(),
                    message: format!("В заявлении нет поля «{}»", f.pointer),
                });
            }
            comment(
                &mut details,
                format!("/fixes/fields/{i}/comment"),
                &f.comment,
            );
        }
        for (i, doc) in fixes.documents.iter().enumerate() {
            if !d.document_types.iter().any(|t| t.code == doc.doc_type) {
                details.push(FieldError {
                    field: format!("/fixes/documents/{i}/type"),
                    code: "unknown_document_type".into(),
                    message: format!(
                        "Документы вида «{}» к этому заявлению не прикладываются",
                        doc.doc_type
                    ),
                });
            }
            comment(
                &mut details,
                format!("/fixes/documents/{i}/comment"),
                &doc.comment,
            );
        }
        if details.is_empty() {
            Ok(())
        } else {
            refuse(
                "fixes_invalid",
                "Замечания к доработке заполнены с ошибками",
                details,
            )
        }
    }
}
