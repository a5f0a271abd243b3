//! Unary gRPC calls over Envoy's HTTP streams, as the session store needs them: the request is
//! one length-prefixed message; the reply is assembled from the stream's headers, data and
//! trailers (`grpc-status`, which HTTP callouts do not deliver) into a [`CallReply`]. Pure: the
//! shell feeds it what the stream hooks receive.

use crate::store::CallReply;
use std::collections::HashMap;

/// `UNAVAILABLE`: what a call that ends without a `grpc-status` (reset, timeout, an HTTP error
/// from Envoy or a proxy) answers, as Envoy's own gRPC client does.
const UNAVAILABLE: u32 = 14;

/// A message in gRPC's framing: not compressed, its length big-endian, then the message.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut framed = Vec::with_capacity(message.len() + 5);
    framed.push(0);
    framed.extend_from_slice(&u32::try_from(message.len()).unwrap_or(u32::MAX).to_be_bytes());
    framed.extend_from_slice(message);
    framed
}

/// The message of a unary reply: the first frame's payload; `None` when it is compressed or cut.
fn unframe(data: &[u8]) -> Option<Vec<u8>> {
    let (&flag, rest) = data.split_first()?;
    let (length, payload) = rest.split_at_checked(4)?;
    let length = usize::try_from(u32::from_be_bytes(length.try_into().ok()?)).ok()?;
    (flag == 0).then(|| payload.get(..length).map(<[u8]>::to_vec)).flatten()
}

/// One call's reply as it arrives.
#[derive(Debug, Default)]
struct Arriving {
    /// The id the exchange knows the call by.
    token: u32,
    status: Option<u32>,
    data: Vec<u8>,
}

/// The calls of one HTTP stream that are out, by Envoy's stream id.
#[derive(Debug, Default)]
pub struct Calls {
    next_token: u32,
    out: HashMap<u64, Arriving>,
}

/// `grpc-status` among headers or trailers.
fn grpc_status(headers: &[(String, Vec<u8>)]) -> Option<u32> {
    let (_, value) = headers.iter().find(|(name, _)| name.eq_ignore_ascii_case("grpc-status"))?;
    std::str::from_utf8(value).ok()?.trim().parse().ok()
}

impl Calls {
    /// Registers a started stream; returns the exchange's id for it.
    pub fn start(&mut self, stream: u64) -> u32 {
        self.next_token = self.next_token.wrapping_add(1);
        self.out.insert(stream, Arriving { token: self.next_token, ..Arriving::default() });
        self.next_token
    }

    /// Response headers or trailers (a trailers-only reply carries `grpc-status` in its headers).
    pub fn on_headers(&mut self, stream: u64, headers: &[(String, Vec<u8>)]) {
        if let (Some(call), Some(status)) = (self.out.get_mut(&stream), grpc_status(headers)) {
            call.status = Some(status);
        }
    }

    pub fn on_data(&mut self, stream: u64, data: &[u8]) {
        if let Some(call) = self.out.get_mut(&stream) {
            call.data.extend_from_slice(data);
        }
    }

    /// The stream ended (`reset`: without an answer); the reply for the exchange, under its id.
    pub fn finish(&mut self, stream: u64, reset: bool) -> Option<(u32, CallReply)> {
        let call = self.out.remove(&stream)?;
        let status = call.status.filter(|_| !reset).unwrap_or(UNAVAILABLE);
        let body = if status == 0 { unframe(&call.data) } else { Some(Vec::new()) };
        let reply = match body {
            Some(body) => CallReply { status, body },
            None => CallReply { status: UNAVAILABLE, body: Vec::new() },
        };
        Some((call.token, reply))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
        pairs.iter().map(|(n, v)| (n.to_string(), v.as_bytes().to_vec())).collect()
    }

    #[test]
    fn a_reply_is_the_framed_message_with_the_status_of_the_trailers() {
        let mut calls = Calls::default();
        let token = calls.start(7);
        calls.on_headers(7, &headers(&[(":status", "200"), ("content-type", "application/grpc")]));
        let framed = frame(b"hello");
        let (first, second) = framed.split_at(3);
        calls.on_data(7, first);
        calls.on_data(7, second);
        calls.on_headers(7, &headers(&[("grpc-status", "0")]));
        assert_eq!(calls.finish(7, false), Some((token, CallReply { status: 0, body: b"hello".to_vec() })));
        assert_eq!(calls.finish(7, false), None, "answered once");
    }

    #[test]
    fn errors_resets_and_garbage_are_not_ok() {
        let mut calls = Calls::default();
        let a = calls.start(1);
        calls.on_headers(1, &headers(&[(":status", "200"), ("grpc-status", "5")]));
        assert_eq!(calls.finish(1, false), Some((a, CallReply { status: 5, body: vec![] })));
        let b = calls.start(2);
        calls.on_headers(2, &headers(&[(":status", "504")]));
        assert_eq!(calls.finish(2, false).map(|(t, r)| (t, r.status)), Some((b, UNAVAILABLE)), "no grpc-status");
        let c = calls.start(3);
        calls.on_headers(3, &headers(&[("grpc-status", "0")]));
        calls.on_data(3, &[0, 0, 0, 0, 9, 1]);
        assert_eq!(calls.finish(3, false).map(|(t, r)| (t, r.status)), Some((c, UNAVAILABLE)), "a cut frame");
        let d = calls.start(4);
        calls.on_headers(4, &headers(&[("grpc-status", "0")]));
        assert_eq!(calls.finish(4, true).map(|(t, r)| (t, r.status)), Some((d, UNAVAILABLE)), "reset");
        assert_ne!(a, b);
    }
}
