//! Reading a query datagram with hickory-proto: the one question of a standard query of
//! class IN, or the typed cause it cannot be answered.

use hickory_proto::op::{Header, Message, MessageType, Metadata, OpCode, Query};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, DecodeError};

/// A standard query with exactly one question, of class IN.
#[derive(Debug)]
pub(super) struct Question {
    /// The query's header: the reply echoes its id and its RD and CD bits.
    pub metadata: Metadata,
    /// The question as asked: echoed in the reply, its name owns the answer.
    pub query: Query,
    /// The name as asked, for the rules and the record: hickory's ASCII form (bytes that are
    /// not printable ASCII escaped), case kept (data hidden in a name may be case-sensitive),
    /// no trailing dot.
    pub name: String,
    /// Whether the query carried an OPT record: the reply must then carry one too.
    pub edns: bool,
}

/// Why a datagram is not a query keyward answers.
#[derive(Debug, thiserror::Error)]
pub(super) enum QueryError {
    /// Too short for the 12-byte header: there is no id to answer to.
    #[error("malformed DNS query: {len} bytes, shorter than a DNS header")]
    NoHeader { len: usize },
    /// A response, not a query: answering it could start a loop between two responders.
    #[error("not a DNS query: a response message")]
    Response { metadata: Metadata },
    /// An opcode other than QUERY (NOTIFY, UPDATE, ...).
    #[error("DNS opcode {} is not served, only QUERY", .metadata.op_code)]
    OpCode { metadata: Metadata },
    /// A header that reads but a message that does not.
    #[error("malformed DNS query: {source}")]
    Malformed {
        metadata: Metadata,
        source: DecodeError,
    },
    /// A query without a question.
    #[error("malformed DNS query: no question")]
    NoQuestion { metadata: Metadata },
    /// Several questions in one query (no resolver sends that).
    #[error(
        "malformed DNS query: {} questions ({}), exactly one expected",
        .names.len(),
        .names.join(", ")
    )]
    Questions {
        metadata: Metadata,
        /// Every question's name, ASCII form, in order.
        names: Vec<String>,
        /// The first question's type.
        qtype: RecordType,
    },
    /// A class other than IN (CHAOS `version.bind`, HESIOD, ANY).
    #[error("DNS class {} is not served, only IN", .query.query_class())]
    Class {
        metadata: Metadata,
        /// The question, echoed in the reply (boxed: the other causes are small).
        query: Box<Query>,
        /// The name, ASCII form.
        name: String,
    },
}

impl QueryError {
    /// The query's header, when it could be read.
    pub(super) fn metadata(&self) -> Option<&Metadata> {
        match self {
            QueryError::NoHeader { .. } => None,
            QueryError::Response { metadata }
            | QueryError::OpCode { metadata }
            | QueryError::Malformed { metadata, .. }
            | QueryError::NoQuestion { metadata }
            | QueryError::Questions { metadata, .. }
            | QueryError::Class { metadata, .. } => Some(metadata),
        }
    }

    /// The (first) name and type asked, when the question could be read.
    pub(super) fn asked(&self) -> Option<(&str, RecordType)> {
        match self {
            QueryError::Questions { names, qtype, .. } => {
                names.first().map(|name| (name.as_str(), *qtype))
            }
            QueryError::Class { name, query, .. } => Some((name.as_str(), query.query_type())),
            _ => None,
        }
    }
}

/// Reads `datagram` as a standard query with one question of class IN.
pub(super) fn read(datagram: &[u8]) -> Result<Question, QueryError> {
    let Ok(header) = Header::read(&mut BinDecoder::new(datagram)) else {
        return Err(QueryError::NoHeader {
            len: datagram.len(),
        });
    };
    let metadata = header.metadata;
    if metadata.message_type == MessageType::Response {
        return Err(QueryError::Response { metadata });
    }
    if metadata.op_code != OpCode::Query {
        return Err(QueryError::OpCode { metadata });
    }
    let message =
        Message::from_vec(datagram).map_err(|source| QueryError::Malformed { metadata, source })?;
    let edns = message.edns.is_some();
    let mut queries = message.queries;
    let query = match queries.len() {
        0 => return Err(QueryError::NoQuestion { metadata }),
        1 => queries.remove(0),
        _ => {
            let names = queries.iter().map(|q| ascii_name(q.name())).collect();
            let qtype = queries.first().map_or(RecordType::A, Query::query_type);
            return Err(QueryError::Questions {
                metadata,
                names,
                qtype,
            });
        }
    };
    let name = ascii_name(query.name());
    if query.query_class() != DNSClass::IN {
        return Err(QueryError::Class {
            metadata,
            query: Box::new(query),
            name,
        });
    }
    Ok(Question {
        metadata,
        query,
        name,
        edns,
    })
}

/// `name` in hickory's ASCII form (escapes for bytes that are not printable ASCII), case
/// kept, without its trailing dot; `.` for the root.
pub(super) fn ascii_name(name: &Name) -> String {
    let ascii = name.to_ascii();
    let trimmed = ascii.strip_suffix('.').unwrap_or(&ascii);
    if trimmed.is_empty() {
        ".".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// A query type as the record shows it: its mnemonic (`A`, `TXT`, `HTTPS`), or `TYPEnnn`
/// (RFC 3597) for a type hickory does not name.
pub(super) fn type_name(qtype: RecordType) -> String {
    match qtype {
        RecordType::Unknown(code) => format!("TYPE{code}"),
        known => known.to_string(),
    }
}
