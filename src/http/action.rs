//! What a handler does, named once. The name labels audit denials; whether the action needs
//! the person's consent to the transfer of their data is a property of the action, not of how
//! its name is spelled: every resource of a case (the case, its form, history, readiness,
//! signing payload, receipts and documents) is the applicant's data.

/// A use case as the HTTP layer runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create a draft.
    CaseCreate,
    /// Read a case.
    CaseRead,
    /// List cases.
    CaseList,
    /// Save the form.
    CaseForm,
    /// Run a transition.
    CaseTransition,
    /// Change the case's attributes.
    CaseAttributes,
    /// Read the history.
    CaseHistory,
    /// Read the readiness report.
    CaseReadiness,
    /// Read the signing payload.
    CaseSigningPayload,
    /// Download a receipt.
    CaseReceipt,
    /// Upload a document.
    DocumentUpload,
    /// Replace a document's file.
    DocumentReplace,
    /// List a case's documents.
    DocumentList,
    /// Download a document.
    DocumentDownload,
    /// Delete a document.
    DocumentDelete,
    /// Export a report or read the analytics.
    Reports,
    /// Download the accreditation record.
    CaseResult,
    /// Read or write the case's message thread.
    CaseMessages,
    /// Read the commission's queue or its counts.
    ReviewQueue,
    /// Assign, claim, reassign or release a case.
    CaseAssign,
    /// Manage subcommissions.
    SubcommissionAdmin,
    /// List one's support requests.
    SupportList,
    /// Read the queue of a support line.
    SupportQueue,
    /// Manage the support desk's lines.
    SupportAdmin,
    /// Look a person up at the support desk.
    SupportPeople,
    /// End one's session.
    SessionLogout,
}

impl Action {
    /// The stable name (audit events, logs).
    pub const fn name(self) -> &'static str {
        match self {
            Self::CaseCreate => "case.create",
            Self::CaseRead => "case.read",
            Self::CaseList => "case.list",
            Self::CaseForm => "case.form",
            Self::CaseTransition => "case.transition",
            Self::CaseAttributes => "case.attributes",
            Self::CaseHistory => "case.history",
            Self::CaseReadiness => "case.readiness",
            Self::CaseSigningPayload => "case.signing_payload",
            Self::CaseReceipt => "case.receipt",
            Self::DocumentUpload => "document.upload",
            Self::DocumentReplace => "document.replace",
            Self::DocumentList => "document.list",
            Self::DocumentDownload => "document.download",
            Self::DocumentDelete => "document.delete",
            Self::Reports => "reports",
            Self::CaseResult => "case.result",
            Self::CaseMessages => "case.messages",
            Self::ReviewQueue => "review.queue",
            Self::CaseAssign => "case.assign",
            Self::SubcommissionAdmin => "subcommission.admin",
            Self::SupportList => "support.list",
            Self::SupportQueue => "support.queue",
            Self::SupportAdmin => "support.admin",
            Self::SupportPeople => "support.people",
            Self::SessionLogout => "session.logout",
        }
    }

    /// Whether the caller must have consented to the transfer of their data: for every
    /// resource of a case, whoever the caller is; not for ending one's own session.
    pub const fn needs_consent(self) -> bool {
        !matches!(self, Self::SessionLogout)
    }
}
