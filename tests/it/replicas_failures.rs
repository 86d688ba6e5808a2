//! Replicas when their Redis goes away: a rate-limited or approval-gated request fails
//! closed (503 with the reason, audited, nothing forwarded), a request that needs neither
//! still passes, `/readyz` says not ready; once Redis is back, everything works again (rate
//! limits, holds and their answers).

use std::time::Duration;

use http::StatusCode;

use crate::replicas::{Cluster, get};
use crate::runtime::post;
use crate::support::agent::Proto;
use crate::support::{admin_get, eventually_async};

#[tokio::test]
async fn redis_down_fails_closed_only_where_shared_state_is_needed_then_recovers() {
    let mut c = Cluster::start(1).await;
    let agent = c.replicas[0].agent();
    let admin = c.admin(0).to_string();
    eventually_async("ready with Redis", Duration::from_secs(10), async || {
        (admin_get(&admin, "/readyz").await.status == StatusCode::OK).then_some(())
    })
    .await;
    assert_eq!(get(&agent, "/limited").await.status, StatusCode::OK);
    assert_eq!(c.upstream.count(), 1);

    c.redis.kill();
    let limited = get(&agent, "/limited").await;
    assert_eq!(limited.status, StatusCode::SERVICE_UNAVAILABLE);
    let reason = limited.reason();
    assert!(
        reason.starts_with("rate-limit counters unavailable: shared state (Redis)"),
        "{reason}"
    );
    let held = agent
        .send(Proto::H1, post("https://api.example.com/transfer"))
        .await;
    assert_eq!(held.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        held.reason().contains("unavailable: shared state (Redis)"),
        "{}",
        held.reason()
    );
    assert_eq!(
        get(&agent, "/read/x").await.status,
        StatusCode::OK,
        "a request that needs no shared state still passes"
    );
    assert_eq!(
        c.upstream.count(),
        2,
        "only the unlimited request was forwarded"
    );
    eventually_async(
        "not ready without Redis",
        Duration::from_secs(10),
        async || {
            let reply = admin_get(&admin, "/readyz").await;
            (reply.status == StatusCode::SERVICE_UNAVAILABLE
                && String::from_utf8_lossy(&reply.body).contains("shared state (Redis)"))
            .then_some(())
        },
    )
    .await;
    let (status, body) = crate::runtime::admin(c.admin(0), "GET", "/approvals", "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    let log = c.replicas[0].flushed_audit_log().await;
    let refused: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"status\":503") && l.contains("shared state (Redis)"))
        .collect();
    assert_eq!(refused.len(), 2, "both refusals are audited:\n{log}");

    c.redis.restart().await;
    eventually_async("ready again", Duration::from_secs(15), async || {
        (admin_get(&admin, "/readyz").await.status == StatusCode::OK).then_some(())
    })
    .await;
    assert_eq!(get(&agent, "/limited").await.status, StatusCode::OK);
    assert_eq!(c.upstream.count(), 3);
    // Holds are recorded and answered again.
    let held = {
        let agent = agent.clone();
        tokio::spawn(async move {
            agent
                .send(Proto::H1, post("https://api.example.com/transfer"))
                .await
        })
    };
    let pending = crate::runtime::wait_pending(c.admin(0), 1).await;
    let id = pending[0]["id"].as_str().unwrap().to_owned();
    let path = format!("/approvals/{id}/approve");
    let (status, _) = crate::runtime::admin(c.admin(0), "POST", &path, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(held.await.unwrap().status, StatusCode::OK);
    assert_eq!(c.upstream.count(), 4);
}
