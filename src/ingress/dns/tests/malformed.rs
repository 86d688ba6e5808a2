//! What malformed and unserved queries get (an error code or no reply, never a panic), each
//! still recorded once.

use super::*;

#[test]
fn bytes_too_short_for_a_header_get_no_reply() {
    let mut rig = Rig::new(None);
    for bytes in [
        &b""[..],
        &[0x12, 0x34, 0x01][..],
        &query("a.example.", RecordType::A)[..11],
    ] {
        let (reply, entry) = rig.ask(bytes);
        assert!(reply.is_none());
        assert_dns_entry(&entry, "-", "-");
        assert_eq!(entry.decision, AuditDecision::Deny);
        assert!(
            reason(&entry).starts_with("malformed DNS query:")
                && reason(&entry).ends_with(": no reply"),
            "{}",
            reason(&entry)
        );
    }
}

#[test]
fn a_truncated_question_gets_formerr_with_its_id() {
    let mut rig = Rig::new(None);
    let asked = query("api.example.com.", RecordType::A);
    let (reply, entry) = rig.ask(&asked[..asked.len() - 3]);
    let reply = reply.unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
    assert_eq!(reply.metadata.id.to_be_bytes(), [asked[0], asked[1]]);
    assert_dns_entry(&entry, "-", "-");
    assert_eq!(entry.decision, AuditDecision::Deny);
    assert!(reason(&entry).starts_with("malformed DNS query: "));
    assert!(reason(&entry).ends_with(": FORMERR"), "{}", reason(&entry));
}

#[test]
fn a_response_message_gets_no_reply() {
    let mut rig = Rig::new(None);
    let mut message = query_message("api.example.com.", RecordType::A);
    message.metadata.message_type = MessageType::Response;
    let (reply, entry) = rig.ask(&message.to_vec().unwrap());
    assert!(reply.is_none());
    assert_eq!(
        reason(&entry),
        "not a DNS query: a response message: no reply"
    );
    assert_eq!(entry.decision, AuditDecision::Deny);
}

#[test]
fn two_questions_get_formerr_and_both_names_are_recorded() {
    let mut rig = Rig::new(None);
    let mut message = query_message("api.example.com.", RecordType::A);
    message.add_query(Query::query(
        Name::from_ascii("c2VjcmV0.attacker.example.").unwrap(),
        RecordType::TXT,
    ));
    let (reply, entry) = rig.ask(&message.to_vec().unwrap());
    let reply = reply.unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::FormErr);
    assert_eq!(reply.metadata.id, message.metadata.id);
    assert!(reply.answers.is_empty());
    assert_dns_entry(&entry, "A", "api.example.com");
    assert_eq!(
        reason(&entry),
        "malformed DNS query: 2 questions (api.example.com, c2VjcmV0.attacker.example), \
         exactly one expected: FORMERR"
    );
}

#[test]
fn no_question_gets_formerr() {
    let mut rig = Rig::new(None);
    let (reply, entry) = rig.ask(&Message::query().to_vec().unwrap());
    assert_eq!(reply.unwrap().metadata.response_code, ResponseCode::FormErr);
    assert_eq!(reason(&entry), "malformed DNS query: no question: FORMERR");
}

#[test]
fn another_opcode_gets_notimp() {
    let mut rig = Rig::new(None);
    let mut message = query_message("api.example.com.", RecordType::SOA);
    message.metadata.op_code = OpCode::Notify;
    let (reply, entry) = rig.ask(&message.to_vec().unwrap());
    let reply = reply.unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::NotImp);
    assert_eq!(reply.metadata.op_code, OpCode::Notify);
    assert_eq!(
        reason(&entry),
        "DNS opcode NOTIFY is not served, only QUERY: NOTIMP"
    );
}

#[test]
fn another_class_gets_refused() {
    let mut rig = Rig::new(None);
    let mut question = Query::query(Name::from_ascii("version.bind.").unwrap(), RecordType::TXT);
    question.set_query_class(DNSClass::CH);
    let mut message = Message::query();
    message.add_query(question.clone());
    let (reply, entry) = rig.ask(&message.to_vec().unwrap());
    let reply = reply.unwrap();
    assert_eq!(reply.metadata.response_code, ResponseCode::Refused);
    assert_eq!(reply.queries, vec![question]);
    assert_dns_entry(&entry, "TXT", "version.bind");
    assert_eq!(
        reason(&entry),
        "DNS class CH is not served, only IN: REFUSED"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the bytes: no panic, one entry, and a reply only to what has a header.
    #[test]
    fn any_bytes_get_one_entry_and_never_a_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..600)
    ) {
        let mut rig = Rig::new(None);
        let (reply, entry) = rig.ask(&bytes);
        prop_assert_eq!(entry.scheme.as_str(), "dns");
        if bytes.len() < 12 {
            prop_assert!(reply.is_none());
        }
    }

    /// A valid query with any header bits and a name of random labels: no panic, one entry.
    #[test]
    fn any_question_gets_one_entry_and_never_a_panic(
        id in any::<u16>(),
        labels in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..20), 0..6),
        qtype in any::<u16>(),
    ) {
        let mut rig = Rig::new(None);
        let Ok(name) = Name::from_labels(labels) else { return Ok(()) };
        let mut message = Message::query();
        message.metadata.id = id;
        message.add_query(Query::query(name, RecordType::from(qtype)));
        let Ok(bytes) = message.to_vec() else { return Ok(()) };
        let (reply, entry) = rig.ask(&bytes);
        prop_assert_eq!(entry.port, 53);
        prop_assert!(entry.host.bytes().all(|b| b.is_ascii_graphic()), "{}", entry.host);
        if let Some(reply) = reply {
            prop_assert_eq!(reply.metadata.id, id);
        }
    }
}
