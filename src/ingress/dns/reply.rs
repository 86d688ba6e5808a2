//! The reply datagrams, built with hickory-proto: the answer to a question (keyward's
//! address, NODATA, NXDOMAIN, SERVFAIL) and the error reply of a query keyward cannot
//! answer, with the one mapping from a [`QueryError`] to the response code the client sees.

use std::net::Ipv4Addr;

use hickory_proto::ProtoError;
use hickory_proto::op::{Edns, Message, Metadata, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record};

use super::question::{QueryError, Question};

/// How long a client may cache an answer, in seconds: short, so that a reload that stops
/// admitting a name reaches the jail's caches within seconds.
pub(super) const ANSWER_TTL: u32 = 5;

/// The UDP payload size keyward's OPT record announces: 1232 bytes (DNS flag day 2020)
/// fits one unfragmented datagram on any path, and every reply is far smaller.
const EDNS_PAYLOAD: u16 = 1232;

/// What a question is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
    /// One A record: the name resolves to keyward's address in the jail.
    Address(Ipv4Addr),
    /// NOERROR without records: the name exists, not with this type.
    NoData,
    /// The name does not exist: no rule admits it.
    NxDomain,
    /// keyward cannot answer now (the audit log cannot take the query's record).
    ServFail,
}

impl Answer {
    /// The response code sent.
    fn code(self) -> ResponseCode {
        match self {
            Answer::Address(_) | Answer::NoData => ResponseCode::NoError,
            Answer::NxDomain => ResponseCode::NXDomain,
            Answer::ServFail => ResponseCode::ServFail,
        }
    }
}

/// A response code as DNS tools print it (`NXDOMAIN`, `FORMERR`), for the record's reason.
pub(super) fn mnemonic(code: ResponseCode) -> String {
    match code {
        ResponseCode::NoError => "NOERROR".to_owned(),
        ResponseCode::FormErr => "FORMERR".to_owned(),
        ResponseCode::ServFail => "SERVFAIL".to_owned(),
        ResponseCode::NXDomain => "NXDOMAIN".to_owned(),
        ResponseCode::NotImp => "NOTIMP".to_owned(),
        ResponseCode::Refused => "REFUSED".to_owned(),
        other => format!("RCODE{}", u16::from(other)),
    }
}

/// The reply to `question`.
pub(super) fn answer(question: &Question, answer: Answer) -> Result<Vec<u8>, ProtoError> {
    let mut reply = reply_to(&question.metadata, answer.code(), question.edns);
    reply.add_query(question.query.clone());
    if let Answer::Address(ip) = answer {
        let name = question.query.name().clone();
        reply.add_answer(Record::from_rdata(name, ANSWER_TTL, RData::A(A(ip))));
    }
    reply.to_vec()
}

/// The response code a query that cannot be answered gets; `None`: no reply (no header to
/// answer to, or a response that must not be answered).
pub(super) fn error_code(error: &QueryError) -> Option<ResponseCode> {
    match error {
        QueryError::NoHeader { .. } | QueryError::Response { .. } => None,
        QueryError::OpCode { .. } => Some(ResponseCode::NotImp),
        QueryError::Malformed { .. }
        | QueryError::NoQuestion { .. }
        | QueryError::Questions { .. } => Some(ResponseCode::FormErr),
        QueryError::Class { .. } => Some(ResponseCode::Refused),
    }
}

/// The error reply to a query that cannot be answered (its id echoed, and its question
/// when there was exactly one); `None` when it gets none.
pub(super) fn error(error: &QueryError) -> Option<Result<Vec<u8>, ProtoError>> {
    let code = error_code(error)?;
    let metadata = error.metadata()?;
    let mut reply = reply_to(metadata, code, false);
    if let QueryError::Class { query, .. } = error {
        reply.add_query(Query::clone(query));
    }
    Some(reply.to_vec())
}

/// An empty reply to the query with `metadata`: its id, opcode, RD and CD bits; recursion
/// available (every name the jail may reach is answered here); an OPT record when the
/// query carried one.
fn reply_to(metadata: &Metadata, code: ResponseCode, edns: bool) -> Message {
    let mut reply = Message::response(metadata.id, metadata.op_code);
    reply.metadata = Metadata::response_from_request(metadata);
    reply.metadata.recursion_available = true;
    reply.metadata.response_code = code;
    if edns {
        let mut opt = Edns::new();
        opt.set_max_payload(EDNS_PAYLOAD);
        reply.set_edns(opt);
    }
    reply
}
