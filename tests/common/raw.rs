//! A minimal HTTP/1.1 client over one TCP connection, for what reqwest hides: keep-alive reuse,
//! chunked uploads, `Expect: 100-continue`, exact bytes on the wire.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

pub struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

impl Conn {
    pub fn open(addr: &str) -> Conn {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30))).ok();
        s.set_nodelay(true).ok();
        let w = s.try_clone().expect("clone");
        Conn {
            reader: BufReader::new(s),
            writer: w,
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write");
    }

    /// A request with a Content-Length body.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        self.send_raw(head.as_bytes());
        self.send_raw(body);
        self.read_response()
    }

    /// A request whose body is sent with chunked transfer encoding, in `chunk`-sized pieces.
    pub fn request_chunked(&mut self, path: &str, body: &[u8], chunk: usize) -> Response {
        let head = format!("POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
        self.send_raw(head.as_bytes());
        for piece in body.chunks(chunk) {
            self.send_raw(format!("{:x}\r\n", piece.len()).as_bytes());
            self.send_raw(piece);
            self.send_raw(b"\r\n");
        }
        self.send_raw(b"0\r\n\r\n");
        self.read_response()
    }

    /// A request with `Expect: 100-continue`: the body is sent only after the interim 100.
    pub fn request_expect(&mut self, path: &str, body: &[u8]) -> (bool, Response) {
        let head = format!("POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n", body.len());
        self.send_raw(head.as_bytes());
        let first = self.read_head();
        if first.0 != 100 {
            let body = self.read_body(&first.1, true);
            return (
                false,
                Response {
                    status: first.0,
                    headers: first.1,
                    body,
                },
            );
        }
        self.send_raw(body);
        (true, self.read_response())
    }

    fn read_head(&mut self) -> (u16, Vec<(String, String)>) {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, self.read_headers())
    }

    fn read_headers(&mut self) -> Vec<(String, String)> {
        let mut headers = Vec::new();
        loop {
            let mut l = String::new();
            if self.reader.read_line(&mut l).unwrap_or(0) == 0 {
                break;
            }
            let l = l.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        headers
    }

    fn read_body(&mut self, headers: &[(String, String)], has_body: bool) -> Vec<u8> {
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        let mut body = Vec::new();
        if !has_body {
            return body;
        }
        if get("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            loop {
                let mut size = String::new();
                self.reader.read_line(&mut size).expect("chunk size");
                let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                let mut buf = vec![0; n + 2];
                self.reader.read_exact(&mut buf).expect("chunk");
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&buf[..n]);
            }
        } else if let Some(n) = get("content-length").and_then(|v| v.parse::<usize>().ok()) {
            body.resize(n, 0);
            self.reader.read_exact(&mut body).expect("body");
        } else {
            self.reader.read_to_end(&mut body).ok();
        }
        body
    }

    pub fn read_response(&mut self) -> Response {
        let (status, headers) = self.read_head();
        let body = self.read_body(&headers, true);
        Response {
            status,
            headers,
            body,
        }
    }

    /// Sends `bytes` as a write of its own and reads the whole answer: `None` when the server
    /// had closed the connection (the write or the read fails, or the read sees EOF) instead
    /// of answering. Nothing here waits on a timer: a server that keeps the connection
    /// answers, one that closed it is seen at once.
    pub fn try_request(&mut self, bytes: &[u8]) -> Option<Response> {
        self.writer.write_all(bytes).ok()?;
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = self.read_headers();
        let body = self.read_body(&headers, true);
        Some(Response {
            status,
            headers,
            body,
        })
    }

    /// Whether the server closed the connection (a read returns EOF promptly).
    pub fn is_closed(&mut self) -> bool {
        self.writer
            .set_read_timeout(Some(Duration::from_millis(500)))
            .ok();
        let mut b = [0u8; 1];
        matches!(self.reader.read(&mut b), Ok(0))
    }
}
