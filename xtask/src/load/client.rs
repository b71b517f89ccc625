//! The load generator's HTTP/1.1 client: one kept-alive connection per publisher, querier
//! or subscriber (hyper's connection-level client, no pool), so what is measured is the node.

use http_body_util::{BodyExt as _, Full};
use hyper::{
    Request,
    body::{Bytes, Incoming},
    client::conn::http1::{self, SendRequest},
    header,
};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::Result;

/// One connection to a node.
pub(super) struct Connection {
    sender: SendRequest<Full<Bytes>>,
    /// `host:port`, for the `host` header.
    authority: String,
}

impl Connection {
    /// Connects to `url` (`http://host:port`).
    pub(super) async fn open(url: &str) -> Result<Self> {
        let authority = url.strip_prefix("http://").unwrap_or(url).trim_end_matches('/');
        let stream = TcpStream::connect(authority)
            .await
            .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake with {authority}: {e}"))?;
        // Drives the connection; ends when the sender is dropped or the node closes it.
        tokio::spawn(connection);
        Ok(Self { sender, authority: authority.to_owned() })
    }

    /// POSTs a JSON body and returns the response body; a status other than 200 is an error.
    pub(super) async fn post(&mut self, path: &str, body: Bytes) -> Result<Bytes> {
        let response = self.send(path, body).await?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{path}: reading the response: {e}"))?
            .to_bytes();
        if !status.is_success() {
            return Err(format!("{path}: {status}: {}", String::from_utf8_lossy(&bytes)));
        }
        Ok(bytes)
    }

    /// Opens a stream (`/message/v1/subscribe`): returns once the node has answered with
    /// its headers, which it does only after it started listening.
    pub(super) async fn open_stream(mut self, path: &str, body: Bytes) -> Result<Lines> {
        let response = self.send(path, body).await?;
        if !response.status().is_success() {
            return Err(format!("{path}: {}", response.status()));
        }
        Ok(Lines { body: response.into_body(), buffer: Vec::new(), _connection: self })
    }

    async fn send(&mut self, path: &str, body: Bytes) -> Result<hyper::Response<Incoming>> {
        self.sender.ready().await.map_err(|e| format!("{path}: connection closed: {e}"))?;
        let request = Request::post(path)
            .header(header::HOST, &self.authority)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| format!("{path}: {e}"))?;
        self.sender.send_request(request).await.map_err(|e| format!("{path}: {e}"))
    }
}

/// The lines of a streamed response body, as they arrive.
pub(super) struct Lines {
    body: Incoming,
    buffer: Vec<u8>,
    /// Kept so the connection stays open as long as the stream is read.
    _connection: Connection,
}

impl Lines {
    /// The next complete line (without its newline), or `None` once the node ended the stream.
    pub(super) async fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
                line.pop();
                return Some(line);
            }
            let frame = self.body.frame().await?.ok()?;
            if let Ok(data) = frame.into_data() {
                self.buffer.extend_from_slice(&data);
            }
        }
    }
}
