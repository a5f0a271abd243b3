//! A scriptable upstream, run in-process on its own runtime: `/echo...` answers with what it
//! received (so tests see what the filter let through); any other path answers as its query says:
//! `status`, `location`, `cookie` (repeatable: one Set-Cookie each), `header` (`name: value`,
//! repeatable), `header_hex` (`name:` and the value's bytes in hex: values that are not UTF-8),
//! `content_type`, `body`,
//! `encoding` (a Content-Encoding header), `big` (an HTML page of that many bytes), `trailer`
//! (sent as an HTTP/2 trailer after the body; needs an HTTP/2 cluster). It speaks HTTP/1.1 and
//! HTTP/2 (prior knowledge).

use axum::body::{Body, Bytes};
use axum::extract::{Query, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use std::net::SocketAddr;

pub struct Upstream {
    pub port: u16,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Upstream {
    pub fn start() -> Upstream {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new().fallback(handle);
        runtime.spawn(async move { axum::serve(listener, app).await });
        Upstream { port, runtime: Some(runtime) }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

async fn handle(method: Method, uri: Uri, headers: HeaderMap, Query(query): Query<Vec<(String, String)>>, req: Request) -> Response {
    let body = axum::body::to_bytes(req.into_body(), 64 << 20).await.unwrap_or_default();
    if uri.path().split('/').any(|segment| segment.starts_with("echo")) {
        let mut reply = echo(&method, &uri, &headers, &body);
        for (_, cookie) in query.iter().filter(|(n, _)| n == "cookie") {
            reply.headers_mut().append("set-cookie", HeaderValue::from_str(cookie).unwrap());
        }
        return reply;
    }
    scripted(&query)
}

/// The request as received, header values and body byte for byte.
fn echo(method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Response {
    let mut text = format!("{method} {uri}\n").into_bytes();
    for (name, value) in headers {
        text.extend_from_slice(format!("{name}: ").as_bytes());
        text.extend_from_slice(value.as_bytes());
        text.push(b'\n');
    }
    text.push(b'\n');
    text.extend_from_slice(body);
    Response::builder().header("content-type", "text/plain").body(Body::from(text)).unwrap()
}

fn scripted(query: &[(String, String)]) -> Response {
    let get = |name: &str| query.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let status = get("status").and_then(|s| s.parse().ok()).unwrap_or(200);
    let mut builder = Response::builder().status(StatusCode::from_u16(status).unwrap());
    let headers = builder.headers_mut().unwrap();
    for (name, value) in query {
        let header = match name.as_str() {
            "cookie" => "set-cookie",
            "location" => "location",
            "content_type" => "content-type",
            "encoding" => "content-encoding",
            "header" => {
                let (name, value) = value.split_once(':').unwrap();
                headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value.trim()).unwrap());
                continue;
            }
            "header_hex" => {
                let (name, hex) = value.split_once(':').unwrap();
                let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
                headers.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_bytes(&bytes).unwrap());
                continue;
            }
            _ => continue,
        };
        headers.append(HeaderName::from_static(header), HeaderValue::from_str(value).unwrap());
    }
    if !headers.contains_key("content-type") {
        headers.insert("content-type", HeaderValue::from_static("text/html; charset=utf-8"));
    }
    let body = match get("big").and_then(|n| n.parse::<usize>().ok()) {
        Some(size) => big_page(size),
        None => get("body").unwrap_or("").as_bytes().to_vec(),
    };
    match get("trailer") {
        Some(value) => builder.body(with_trailer(body, value)).unwrap(),
        None => builder.body(Body::from(body)).unwrap(),
    }
}

/// A body whose end of stream comes with a trailer, not with its last data frame.
fn with_trailer(body: Vec<u8>, value: &str) -> Body {
    let mut trailers = HeaderMap::new();
    trailers.insert("x-trailer", HeaderValue::from_str(value).unwrap());
    let frames = vec![
        Ok::<_, std::convert::Infallible>(http_body::Frame::data(Bytes::from(body))),
        Ok(http_body::Frame::trailers(trailers)),
    ];
    Body::new(http_body_util::StreamBody::new(futures_util::stream::iter(frames)))
}

/// An ordinary page of `size` bytes: paragraphs and same-site links.
pub fn big_page(size: usize) -> Vec<u8> {
    let mut page = b"<!doctype html><html><body>".to_vec();
    let block = b"<p>Lorem ipsum dolor sit amet, <a href=\"/next\">next</a> consectetur.</p>\n";
    while page.len() + block.len() + 15 < size {
        page.extend_from_slice(block);
    }
    page.extend_from_slice(b"</body></html>");
    page.resize(size.max(page.len()), b' ');
    page
}
