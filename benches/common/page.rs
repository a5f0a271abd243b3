//! The benchmarks' page: ordinary HTML (paragraphs, a link every 2.5 KB, forms), and the rewriter
//! options it is rewritten with, shared by `rewrite.rs`, `rewrite_engines.rs` and `envoy.rs` so
//! that their numbers describe the same work.

use cookieless::rewrite::RewriteOptions;

/// A real token's length and alphabet (the rewriter percent-encodes nothing in it).
const TOKEN: &str = "AQAAAGsyMDI2AAAAAGjvN0Zq3pXc2mUuRzVLHbqkN2TKnfJ0-8Ts1QyM4c9u3QeUqXJZ5lYw0fR7h2sHnA";

/// Links, forms and the placeholder on, for a page served as `host`.
pub fn options(host: &str) -> RewriteOptions {
    RewriteOptions {
        param: "sessionid".to_owned(),
        token: TOKEN.to_owned(),
        links: true,
        forms: true,
        placeholder: "__COOKIELESS_TOKEN__".to_owned(),
        host: host.to_owned(),
        allowed_hosts: Vec::new(),
        path: "/dir/page".to_owned(),
        form_id: "cl-0123456789abcdef".to_owned(),
    }
}

const PARAGRAPH: &str = "<p class=\"lead\">Lorem ipsum dolor sit amet, consectetur adipiscing \
    elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim \
    veniam, quis nostrud <em>exercitation</em> ullamco laboris nisi ut aliquip ex ea commodo \
    consequat. Duis aute irure dolor in <strong>reprehenderit</strong> in voluptate velit esse \
    cillum dolore eu fugiat nulla pariatur. Excepteur sint occaecat cupidatat non proident, sunt \
    in culpa qui officia deserunt mollit anim id est laborum.</p>\n";

/// An ordinary page of exactly `size` bytes: a head with a stylesheet and a script, a nav of two
/// links, a form, then paragraphs with a link every 2.5 KB (same-site, external, fragment, in
/// turn) and another form every 100 KB.
pub fn page(size: usize) -> Vec<u8> {
    let mut s = String::with_capacity(size + 4096);
    s.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Example shop &mdash; checkout</title>\
         <link rel=\"stylesheet\" href=\"/static/site.css\">\
         <script>window.dataLayer = window.dataLayer || []; function gtag(){dataLayer.push(arguments);}</script>\
         </head>\n<body><nav class=\"top\"><a href=\"/\">Home</a> <a href=\"/shop/\">Shop</a></nav>\n\
         <form action=\"/search\" method=\"get\"><input name=\"q\"><button>Search</button></form>\n\
         <main id=\"content\">\n",
    );
    let end = "</main><footer><a href=\"mailto:help@example.com\">Help</a></footer></body></html>\n";
    let per_link = 100 * 1024 / 40;
    let mut next_link = s.len() + per_link;
    let mut next_form = s.len() + 50 * 1024;
    let mut n = 0usize;
    while s.len() + PARAGRAPH.len() + 200 + end.len() < size {
        s.push_str(PARAGRAPH);
        if s.len() >= next_link {
            n += 1;
            let link = match n % 4 {
                0 => format!("<li><a href=\"/products/{n}?ref=list&amp;page=2\" class=\"item\">Item {n}</a></li>\n"),
                1 => format!("<li><a href=\"https://partner.example.org/p/{n}\" rel=\"noopener\">Partner {n}</a></li>\n"),
                2 => format!("<li><a href=\"#section-{n}\">Section {n}</a></li>\n"),
                _ => format!("<li><a href='/articles/{n}.html'>Article {n}</a></li>\n"),
            };
            s.push_str(&link);
            next_link += per_link;
        }
        if s.len() >= next_form {
            s.push_str(
                "<form action=\"/cart/add\" method=\"post\" class=\"add\">\
                 <input type=\"hidden\" name=\"sku\" value=\"A-17\">\
                 <button type=\"submit\">Add to cart</button></form>\n",
            );
            next_form += 100 * 1024;
        }
    }
    s.push_str(end);
    let mut page = s.into_bytes();
    if page.len() < size {
        // Pad inside the document with spaces before the closing tags.
        let at = page.len() - end.len();
        let pad = size - page.len();
        page.splice(at..at, std::iter::repeat_n(b' ', pad));
    }
    page
}
