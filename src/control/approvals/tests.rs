use super::*;
use std::sync::Arc;

fn info(id: &str) -> PendingInfo {
    PendingInfo {
        id: id.into(),
        agent: Some("bot".into()),
        method: "POST".into(),
        url: "https://payments.example/v1/refunds".into(),
        rule: "refund-large".into(),
        headers: vec!["content-type".into()],
        body_preview: "{}".into(),
        mcp: None,
        graphql: None,
        action: None,
        action_input: None,
        waiting_secs: 0,
        timeout_secs: 300,
    }
}

#[tokio::test(start_paused = true)]
async fn approve_deny_timeout_and_window() {
    let approvals = Arc::new(Approvals::default());
    let a = approvals.clone();
    let held = tokio::spawn(async move {
        a.hold(info("1"), "shape".into(), DEFAULT_TIMEOUT, |_| {})
            .await
    });
    tokio::task::yield_now().await;
    assert_eq!(approvals.list().await.unwrap().len(), 1);
    assert!(
        approvals
            .resolve(
                "1",
                Resolution::Approved {
                    by: Some("alice".into()),
                    window: Some(Duration::from_secs(600))
                }
            )
            .await
            .unwrap()
    );
    let (result, rec) = held.await.unwrap();
    assert!(result.is_ok());
    assert_eq!(rec.by.as_deref(), Some("alice"));
    assert!(approvals.window_covers("shape").await.unwrap());
    tokio::time::advance(Duration::from_secs(601)).await;
    assert!(!approvals.window_covers("shape").await.unwrap());

    let a = approvals.clone();
    let held = tokio::spawn(async move {
        a.hold(info("2"), "s2".into(), DEFAULT_TIMEOUT, |_| {})
            .await
    });
    tokio::task::yield_now().await;
    assert!(
        approvals
            .resolve(
                "2",
                Resolution::Denied {
                    by: None,
                    reason: Some("too large".into())
                }
            )
            .await
            .unwrap()
    );
    assert_eq!(
        held.await.unwrap().0,
        Err(NotApproved::Denied {
            reason: Some("too large".into())
        })
    );

    let a = approvals.clone();
    let held = tokio::spawn(async move {
        a.hold(info("3"), "s3".into(), Duration::from_secs(5), |_| {})
            .await
    });
    tokio::time::advance(Duration::from_secs(6)).await;
    assert_eq!(held.await.unwrap().0, Err(NotApproved::TimedOut));
    assert!(approvals.is_empty());
    assert!(
        !approvals
            .resolve(
                "3",
                Resolution::Denied {
                    by: None,
                    reason: None
                }
            )
            .await
            .unwrap()
    );
}
