//! Other forms of the audit trail for systems that ingest it: [`ocsf`], the entry as an
//! OCSF HTTP Activity event for SIEMs (the stdout copy with `audit.format: ocsf`), and
//! [`otlp`], the entry as an OpenTelemetry log record sent to a collector. The log file
//! itself keeps its own chained lines, which `keyward audit verify` checks.

pub mod ocsf;
pub mod otlp;
