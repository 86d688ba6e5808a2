//! Other forms of the audit trail for systems that ingest it: [`ocsf`], the entry as an
//! OCSF HTTP Activity event for SIEMs (the stdout copy with `audit.format: ocsf`). The log
//! file itself keeps its own chained lines, which `keyward audit verify` checks.

pub mod ocsf;
