//! An HTTP client like a browser that stores no cookies, and helpers that read the pages it gets.

use std::io::Read;
use std::time::Duration;

/// An HTTP response, read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }
}

/// An HTTP client like a browser that stores no cookies: no cookie jar, no redirect following.
pub struct Client {
    agent: ureq::Agent,
    pub user_agent: String,
    /// Sent as X-Forwarded-For (the test Envoy trusts one hop): the client address the filter sees.
    pub client_ip: Option<String>,
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl Client {
    /// Every request gives up after 30 s.
    pub fn new() -> Client {
        Client::with_timeout(Duration::from_secs(30))
    }

    /// A client whose every request gives up after `limit`: a hang shows up as status 0 after
    /// `limit` instead of stalling the test run.
    pub fn with_timeout(limit: Duration) -> Client {
        Client { agent: agent(limit), user_agent: "cookieless-test/1".into(), client_ip: None }
    }

    pub fn with_identity(user_agent: &str, client_ip: &str) -> Client {
        Client { user_agent: user_agent.into(), client_ip: Some(client_ip.into()), ..Client::new() }
    }

    pub fn get(&self, url: &str) -> Reply {
        self.get_with(url, &[])
    }

    pub fn get_with(&self, url: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = self.agent.get(url).header("user-agent", &self.user_agent);
        if let Some(ip) = &self.client_ip {
            req = req.header("x-forwarded-for", ip);
        }
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        read(req.call())
    }

    pub fn post_form(&self, url: &str, body: &str, headers: &[(&str, &str)]) -> Reply {
        self.post(url, "application/x-www-form-urlencoded", body.as_bytes(), headers)
    }

    pub fn post(&self, url: &str, content_type: &str, body: &[u8], headers: &[(&str, &str)]) -> Reply {
        self.send("POST", url, content_type, body, headers)
    }

    /// A request with a body: `POST`, `PUT` or `PATCH`.
    pub fn send(&self, method: &str, url: &str, content_type: &str, body: &[u8], headers: &[(&str, &str)]) -> Reply {
        let req = match method {
            "PUT" => self.agent.put(url),
            "PATCH" => self.agent.patch(url),
            "POST" => self.agent.post(url),
            other => panic!("no body method {other}"),
        };
        let mut req = req
            .header("user-agent", &self.user_agent)
            .header("content-type", content_type);
        if let Some(ip) = &self.client_ip {
            req = req.header("x-forwarded-for", ip);
        }
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        read(req.send(body))
    }
}

/// A ureq agent that follows no redirect, takes every status as an answer and gives up after `limit`.
pub fn agent(limit: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .timeout_global(Some(limit))
        .build()
        .into()
}

fn read(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    match result {
        Ok(mut resp) => {
            let status = resp.status().as_u16();
            let headers = resp
                .headers()
                .iter()
                .map(|(n, v)| (n.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            let mut bytes = Vec::new();
            let _ = resp.body_mut().as_reader().read_to_end(&mut bytes);
            Reply { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
        }
        Err(e) => Reply { status: 0, headers: Vec::new(), body: e.to_string() },
    }
}

/// The token the filter put into a page: the value of the first `sessionid` hidden input or link.
pub fn token_in(html: &str) -> Option<String> {
    let at = html.find("sessionid=").map(|i| i + "sessionid=".len()).or_else(|| {
        let i = html.find("name=\"sessionid\" value=\"")?;
        Some(i + "name=\"sessionid\" value=\"".len())
    })?;
    let token: String = html[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!token.is_empty()).then_some(token)
}

/// The value of a hidden input in a page.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html.find(&marker)? + marker.len();
    Some(html[at..].chars().take_while(|c| *c != '"').collect())
}
