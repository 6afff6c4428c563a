//! A tiny real HTTP/1.1 server on 127.0.0.1 for client tests: one thread per connection, the
//! response chosen by a closure from the parsed JSON-RPC request body.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use serde_json::Value;

/// What the server sends back for one HTTP request.
pub(crate) enum Reply {
    /// 200 with this JSON body.
    Json(Value),
    /// 200 with these raw bytes as the body (e.g. truncated JSON).
    Raw(Vec<u8>),
    /// This status with a short text body, and extra header lines.
    Status(u16, Vec<(&'static str, String)>),
    /// Wait, then send the inner reply.
    Delay(Duration, Box<Reply>),
    /// Close the connection without answering (a dropped connection).
    Close,
}

/// A running server; stops accepting when dropped.
pub(crate) struct Node {
    pub(crate) url: String,
    stop: Arc<AtomicBool>,
    port: u16,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so the thread ends.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

type Handler = dyn Fn(&Value) -> Reply + Send + Sync;

/// Starts a server answering every request with `handler(request_json)`.
pub(crate) fn serve(handler: impl Fn(&Value) -> Reply + Send + Sync + 'static) -> Node {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("local addr").port();
    let stop = Arc::new(AtomicBool::new(false));
    let handler: Arc<Handler> = Arc::new(handler);
    let stop2 = stop.clone();
    thread::spawn(move || {
        for conn in listener.incoming() {
            if stop2.load(Ordering::Relaxed) {
                break;
            }
            let Ok(conn) = conn else { continue };
            let handler = handler.clone();
            thread::spawn(move || {
                let _ = handle(conn, &*handler);
            });
        }
    });
    Node {
        url: format!("http://127.0.0.1:{port}"),
        stop,
        port,
    }
}

fn handle(conn: TcpStream, handler: &Handler) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut conn = conn;
    loop {
        let mut content_length = 0usize;
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                content_length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; content_length];
        reader.read_exact(&mut body)?;
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let mut reply = handler(&request);
        while let Reply::Delay(d, inner) = reply {
            thread::sleep(d);
            reply = *inner;
        }
        if matches!(reply, Reply::Close) {
            return Ok(());
        }
        let (status, headers, body) = match reply {
            Reply::Json(v) => (200, Vec::new(), serde_json::to_vec(&v).expect("serialize reply")),
            Reply::Raw(b) => (200, Vec::new(), b),
            Reply::Status(s, h) => (s, h, format!("status {s}").into_bytes()),
            Reply::Delay(..) | Reply::Close => unreachable!("handled above"),
        };
        let mut head = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        conn.write_all(head.as_bytes())?;
        conn.write_all(&body)?;
        conn.flush()?;
    }
}

/// Answers each call of a JSON-RPC batch with `answer(method, params)`, which returns either a result
/// or an error object `(code, message)`.
pub(crate) fn batch_reply(
    request: &Value,
    answer: impl Fn(&str, &Value) -> Result<Value, (i64, String)>,
) -> Reply {
    let calls = request
        .as_array()
        .cloned()
        .unwrap_or_else(|| vec![request.clone()]);
    let out: Vec<Value> = calls
        .iter()
        .map(|c| {
            let method = c["method"].as_str().unwrap_or("");
            match answer(method, &c["params"]) {
                Ok(result) => serde_json::json!({"jsonrpc": "2.0", "id": c["id"], "result": result}),
                Err((code, message)) => {
                    serde_json::json!({"jsonrpc": "2.0", "id": c["id"], "error": {"code": code, "message": message}})
                }
            }
        })
        .collect();
    Reply::Json(Value::Array(out))
}

/// Methods called in a request body (for assertions about what the client asked).
pub(crate) fn methods(request: &Value) -> Vec<String> {
    request
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["method"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
