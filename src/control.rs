//! Runtime control: what changes decisions while keyward runs. The rules and credentials in
//! force (swapped on reload), the reload triggers, requests held for a person and their
//! follow-up windows, the pauses of agents (the kill switch), per-rule rate-limit counters and token budgets (in memory, or shared by
//! replicas through Redis), and the token-protected admin API that operators and approvers use.

pub mod admin;
pub mod approvals;
pub mod pause;
pub mod rate_limits;
pub mod reload;
pub mod rules_in_force;
pub mod shared_state;
pub mod token_budgets;
