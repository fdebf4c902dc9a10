//! The commission's reports, as pure building blocks: a streaming table export (CSV, XLSX)
//! and stage analytics. No database or HTTP here; the service layer feeds them rows.

pub mod stages;
pub mod table;
