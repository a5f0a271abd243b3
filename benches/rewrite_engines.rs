#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The hand-written rewriter against lol_html (Cloudflare's streaming rewriter) doing the same
//! job on the same pages: the generated pages of `benches/common/page.rs` at 4 KB, 100 KB and 1 MB,
//! fed in 16 KiB chunks. lol_html gets two handlers, forms (hidden input right after the start
//! tag of a same-origin form) and `a`/`area` links (token appended to same-origin hrefs), with
//! the decisions taken by `cookieless::origin`, so both engines do the same work on these pages.
//!
//! Before the timings it runs both over `tests/corpus/*.html` and prints, per page, whether the
//! outputs are identical, identical after normalizing lol_html's re-serialized tags, or differ;
//! `ENGINES_DUMP=DIR` also writes both outputs there for diffing.
//!
//! Run: `cargo bench --bench rewrite_engines -- --warm-up-time 1 --measurement-time 3`.

use cookieless::origin::SameOrigin;
use cookieless::url::{with_query_param, QuerySeparator};
use cookieless::rewrite::{RewriteOptions, Rewriter};
use criterion::{BenchmarkId, Criterion, Throughput};
use lol_html::html_content::ContentType;
use lol_html::{element, HtmlRewriter, Settings};
use std::hint::black_box;
use std::path::Path;

#[path = "common/page.rs"]
mod page;

const CHUNK: usize = 16 * 1024;

struct Job {
    param: String,
    token: String,
    host: String,
    allowed_hosts: Vec<String>,
}

impl Job {
    fn bench() -> Job {
        let o = generated_options();
        Job {
            param: o.param,
            token: o.token,
            host: o.host,
            allowed_hosts: o.allowed_hosts,
        }
    }

    /// Same settings as tests/rewrite_corpus.rs.
    fn corpus() -> Job {
        Job {
            param: "sessionid".to_owned(),
            token: "TOKEN".to_owned(),
            host: "www.example.com".to_owned(),
            allowed_hosts: vec!["partner.example.com".to_owned()],
        }
    }

    fn options(&self) -> RewriteOptions {
        RewriteOptions {
            param: self.param.clone(),
            token: self.token.clone(),
            links: true,
            forms: true,
            placeholder: String::new(),
            host: self.host.clone(),
            path: "/dir/page".to_owned(),
            allowed_hosts: self.allowed_hosts.clone(),
            form_id: "cl-0123456789abcdef".to_owned(),
        }
    }

    fn origin(&self) -> SameOrigin<'_> {
        SameOrigin {
            host: &self.host,
            allowed_hosts: &self.allowed_hosts,
        }
    }

    fn hidden_input(&self) -> String {
        // Param and token are plain ASCII here (base64url), no escaping needed.
        format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
            self.param, self.token
        )
    }
}

fn generated_options() -> RewriteOptions {
    let mut o = page::options("www.example.com");
    o.placeholder = String::new();
    o
}

fn cookieless(job: &Job, input: &[u8], chunk: usize, out: &mut Vec<u8>) {
    out.clear();
    let mut r = Rewriter::new(job.options());
    for c in input.chunks(chunk) {
        r.write(c, out);
    }
    r.end(out);
}

/// lol_html doing the same job; `Err` when lol_html refuses the input (strict-mode ambiguity).
fn lol(job: &Job, input: &[u8], chunk: usize, out: &mut Vec<u8>) -> Result<(), String> {
    out.clear();
    let origin = job.origin();
    let hidden = job.hidden_input();
    let mut rewriter = HtmlRewriter::new(
        Settings::new()
            .with_strict(false)
            .append_element_content_handler(
                element!("form[action], form:not([action])", |el| {
                    let allowed = match el.get_attribute("action") {
                        None => true,
                        Some(a) => {
                            let t = a.trim_matches(|c: char| c <= ' ');
                            t.is_empty() || t.starts_with('#') || origin.allows_url(&a)
                        }
                    };
                    if allowed {
                        el.prepend(&hidden, ContentType::Html);
                    }
                    Ok(())
                }))
            .append_element_content_handler(
                element!("a[href], area[href]", |el| {
                    if let Some(href) = el.get_attribute("href") {
                        if origin.allows_url(&href) {
                            let new = with_query_param(
                                &href,
                                &job.param,
                                &job.token,
                                QuerySeparator::AmpEntity,
                            );
                            el.set_attribute("href", &new)?;
                        }
                    }
                    Ok(())
                })),
        |c: &[u8]| out.extend_from_slice(c),
    );
    for c in input.chunks(chunk) {
        rewriter.write(c).map_err(|e| e.to_string())?;
    }
    rewriter.end().map_err(|e| e.to_string())
}

/// Tags as lol_html writes modified ones: lower-case names, every value double-quoted, single
/// spaces, no `/` before `>`; applied to both outputs to tell re-serialization from real
/// differences. Only start tags of `a`, `area` and `form` are touched (the ones lol_html
/// rewrites); the rest is compared byte for byte.
fn normalize(html: &[u8]) -> Vec<u8> {
    // Bytes as Latin-1 chars: lossless, so a mangled non-UTF-8 byte still counts as a difference.
    let s: String = html.iter().map(|&b| char::from(b)).collect();
    let mut out = String::with_capacity(s.len());
    let mut rest: &str = &s;
    while let Some(i) = rest.find('<') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let name_end = rest[1..]
            .find(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/')
            .map_or(rest.len(), |k| k + 1);
        let name = rest[1..name_end].to_ascii_lowercase();
        if !matches!(name.as_str(), "a" | "area" | "form") {
            out.push('<');
            rest = &rest[1..];
            continue;
        }
        // Parse attributes up to the closing `>` outside quotes.
        let bytes = rest.as_bytes();
        let mut p = name_end;
        let mut attrs: Vec<(String, Option<String>)> = Vec::new();
        let mut closed = false;
        while p < bytes.len() {
            let b = bytes[p];
            if b.is_ascii_whitespace() || b == b'/' {
                p += 1;
                continue;
            }
            if b == b'>' {
                p += 1;
                closed = true;
                break;
            }
            let start = p;
            while p < bytes.len()
                && !bytes[p].is_ascii_whitespace()
                && !matches!(bytes[p], b'=' | b'>' | b'/')
            {
                p += 1;
            }
            let an = rest[start..p].to_ascii_lowercase();
            let mut q = p;
            while q < bytes.len() && bytes[q].is_ascii_whitespace() {
                q += 1;
            }
            if q < bytes.len() && bytes[q] == b'=' {
                q += 1;
                while q < bytes.len() && bytes[q].is_ascii_whitespace() {
                    q += 1;
                }
                let (v, next) = match bytes.get(q) {
                    Some(&qc @ (b'"' | b'\'')) => match rest[q + 1..].find(qc as char) {
                        Some(k) => (rest[q + 1..q + 1 + k].to_owned(), q + 2 + k),
                        None => (rest[q + 1..].to_owned(), bytes.len()),
                    },
                    _ => {
                        let mut e = q;
                        while e < bytes.len() && !bytes[e].is_ascii_whitespace() && bytes[e] != b'>'
                        {
                            e += 1;
                        }
                        (rest[q..e].to_owned(), e)
                    }
                };
                attrs.push((an, Some(v.replace('"', "&quot;"))));
                p = next;
            } else {
                attrs.push((an, None));
            }
        }
        if !closed {
            out.push_str(rest);
            rest = "";
            break;
        }
        out.push('<');
        out.push_str(&name);
        for (n, v) in attrs {
            out.push(' ');
            out.push_str(&n);
            if let Some(v) = v {
                out.push_str("=\"");
                out.push_str(&v);
                out.push('"');
            }
        }
        out.push('>');
        rest = &rest[p..];
    }
    out.push_str(rest);
    out.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')).collect()
}

fn corpus_check() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let dump = std::env::var_os("ENGINES_DUMP").map(std::path::PathBuf::from);
    if let Some(d) = &dump {
        std::fs::create_dir_all(d).unwrap();
    }
    let mut pages: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.ends_with(".html") && !n.ends_with(".expected.html")
        })
        .collect();
    pages.sort();
    let job = Job::corpus();
    let (mut same, mut reserialized, mut differ, mut failed) = (0, 0, 0, 0);
    for page in &pages {
        let name = page.file_stem().unwrap().to_string_lossy().into_owned();
        let input = std::fs::read(page).unwrap();
        let mut a = Vec::new();
        cookieless(&job, &input, CHUNK, &mut a);
        let mut b = Vec::new();
        let verdict = match lol(&job, &input, CHUNK, &mut b) {
            Err(e) => {
                failed += 1;
                format!("lol_html error: {e}")
            }
            Ok(()) if a == b => {
                same += 1;
                "identical".to_owned()
            }
            Ok(()) if normalize(&a) == normalize(&b) => {
                reserialized += 1;
                "same after normalizing tag serialization".to_owned()
            }
            Ok(()) => {
                differ += 1;
                "DIFFERENT".to_owned()
            }
        };
        eprintln!("corpus {name}: {verdict}");
        if let Some(d) = &dump {
            std::fs::write(d.join(format!("{name}.cookieless.html")), &a).unwrap();
            std::fs::write(d.join(format!("{name}.lol.html")), &b).unwrap();
            std::fs::write(d.join(format!("{name}.cookieless.norm.html")), normalize(&a)).unwrap();
            std::fs::write(d.join(format!("{name}.lol.norm.html")), normalize(&b)).unwrap();
        }
    }
    eprintln!(
        "corpus: {} pages, {same} identical, {reserialized} differ only in tag serialization, \
         {differ} differ, {failed} lol_html errors",
        pages.len()
    );
}

fn bench(c: &mut Criterion) {
    let job = Job::bench();
    let sizes = [("4KB", 4 * 1024), ("100KB", 100 * 1024), ("1MB", 1024 * 1024)];
    // Same job on the generated pages: outputs must agree up to lol_html's tag serialization.
    for (name, size) in sizes {
        let input = page::page(size);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        cookieless(&job, &input, CHUNK, &mut a);
        lol(&job, &input, CHUNK, &mut b).unwrap();
        eprintln!(
            "generated {name}: outputs {}",
            if a == b {
                "identical"
            } else if normalize(&a) == normalize(&b) {
                "identical after normalizing tag serialization"
            } else {
                "DIFFERENT"
            }
        );
    }
    let mut group = c.benchmark_group("rewrite_engines");
    for (name, size) in sizes {
        let input = page::page(size);
        let mut out = Vec::with_capacity(input.len() * 2);
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_with_input(BenchmarkId::new("cookieless", name), &input, |b, input| {
            b.iter(|| cookieless(&job, black_box(input), CHUNK, &mut out));
        });
        group.bench_with_input(BenchmarkId::new("lol_html", name), &input, |b, input| {
            b.iter(|| lol(&job, black_box(input), CHUNK, &mut out).unwrap());
        });
    }
    group.finish();
}

fn main() {
    corpus_check();
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
